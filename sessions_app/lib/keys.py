"""OpenClaw's session-key grammar (reference spec §4.1). Pure: no Django.

A canonical key is ``agent:<agentId>:<rest>``, lowercased, e.g. ``agent:main:main`` or
``agent:main:telegram:direct:42``. ``global`` and ``unknown`` stay unprefixed. RPC input
is canonicalized the way OpenClaw's ``resolveSessionStoreKey`` does: ``main`` is the
default agent's main session, and a bare key is prefixed with the default agent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

DEFAULT_AGENT_ID = "main"
MAIN_KEY = "main"
SPECIAL_KEYS = frozenset({"global", "unknown"})
MAX_KEY_LENGTH = 512

_AGENT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_INVALID_ID_CHARS = re.compile(r"[^a-z0-9_-]+")
# Peer kinds as they appear in keys; "dm" is the legacy spelling of "direct".
_PEER_KINDS = {"direct": "direct", "dm": "direct", "group": "group", "channel": "channel"}


class SessionKeyError(ValueError):
    """A session key that cannot be used; the message says how to fix it."""


def normalize_agent_id(value: str) -> str:
    """Return ``value`` as an OpenClaw agent id: lowercase, invalid runs collapsed to ``-``."""
    lowered = value.strip().lower()
    if _AGENT_ID_RE.match(lowered):
        return lowered
    collapsed = _INVALID_ID_CHARS.sub("-", lowered).strip("-")[:64]
    return collapsed or DEFAULT_AGENT_ID


def main_session_key(agent_id: str, main_key: str = MAIN_KEY) -> str:
    """Return the agent's main session key, e.g. ``agent:main:main``."""
    return f"agent:{normalize_agent_id(agent_id)}:{main_key.strip().lower()}"


def canonicalize(
    raw: str, *, default_agent: str | Callable[[], str], main_key: str = MAIN_KEY
) -> str:
    """Return the canonical store key for RPC input.

    ``default_agent`` may be a callable so callers only look the default agent up when
    the key needs it (``main`` or a bare key). Raises ``SessionKeyError``.
    """
    key = raw.strip().lower()
    if not key:
        raise SessionKeyError("session key is empty; use e.g. 'main' or 'agent:main:main'")
    if len(key) > MAX_KEY_LENGTH:
        raise SessionKeyError(f"session key is longer than {MAX_KEY_LENGTH} characters")
    if key in SPECIAL_KEYS:
        return key
    if key.startswith("agent:"):
        parts = key.split(":")
        if len(parts) < 3 or not parts[1] or not all(parts[2:]):
            raise SessionKeyError(
                f"malformed session key {raw.strip()!r}: expected agent:<agentId>:<rest>, "
                "e.g. agent:main:main"
            )
        if not _AGENT_ID_RE.match(parts[1]):
            raise SessionKeyError(
                f"malformed session key {raw.strip()!r}: agent id {parts[1]!r} must match "
                "[a-z0-9][a-z0-9_-]{0,63}"
            )
        return key
    agent = default_agent() if callable(default_agent) else default_agent
    if key == main_key.strip().lower():
        return main_session_key(agent, main_key)
    return f"agent:{normalize_agent_id(agent)}:{key}"


def parse_agent_id(key: str) -> str | None:
    """Return the agent id of a canonical key, or None for ``global``/``unknown``/bare keys."""
    parts = key.split(":")
    if len(parts) >= 3 and parts[0] == "agent" and parts[1]:
        return parts[1]
    return None


def key_rest(key: str) -> str:
    """Return what follows ``agent:<id>:``, or the key itself when it has no agent prefix."""
    return key.split(":", 2)[2] if parse_agent_id(key) else key


def is_main_key(key: str, main_key: str = MAIN_KEY) -> bool:
    """True for an agent's main session (``agent:<id>:main``)."""
    return parse_agent_id(key) is not None and key_rest(key) == main_key


def chat_type(key: str) -> str | None:
    """Return ``direct``, ``group`` or ``channel`` from the key's shape, None if it has none.

    Main sessions count as direct (OpenClaw's DM scope ``main``).
    """
    if key in SPECIAL_KEYS:
        return None
    rest = key_rest(key).split(":")
    # Thread and topic suffixes belong to their parent conversation.
    for marker in ("thread", "topic"):
        if marker in rest:
            rest = rest[: rest.index(marker)]
    for token in rest:
        if token in _PEER_KINDS:
            return _PEER_KINDS[token]
    return "direct" if is_main_key(key) else None


def session_kind(key: str) -> str:
    """Return the sessions.list ``kind``: ``direct``, ``group``, ``global`` or ``unknown``."""
    if key in SPECIAL_KEYS:
        return key
    kind = chat_type(key)
    if kind in ("group", "channel"):
        return "group"
    return "direct"


def key_channel(key: str) -> str | None:
    """Return the channel named in the key (``agent:main:telegram:direct:42`` → telegram).

    Keys of the shape ``agent:<id>:<channel>:[<account>:]<direct|group|channel>:<peer>``
    name one; main, per-peer and other families do not.
    """
    rest = key_rest(key).split(":")
    names_channel = len(rest) >= 3 and rest[0] not in _PEER_KINDS
    if names_channel and (rest[1] in _PEER_KINDS or (len(rest) >= 4 and rest[2] in _PEER_KINDS)):
        return rest[0]
    return None


# --- keys of channel conversations (OpenClaw's buildAgentPeerSessionKey) -----------------
DEFAULT_ACCOUNT_ID = "default"
# session.dmScope: how direct messages share sessions (reference spec §4.1).
DM_SCOPES = ("main", "per-peer", "per-channel-peer", "per-account-channel-peer")
THREAD_MARKERS = ("thread", "topic")
# Ids that are object-prototype names in OpenClaw's JavaScript; it refuses them as
# account ids, so they mean the default account here too.
_BLOCKED_ACCOUNT_IDS = frozenset({"__proto__", "constructor", "prototype"})
# Chat kinds as platforms and configs spell them (OpenClaw's normalizeChatType).
_CHAT_TYPES = {
    "direct": "direct",
    "dm": "direct",
    "group": "group",
    "supergroup": "group",
    "channel": "channel",
}


def normalize_account_id(value: str | None) -> str:
    """Return ``value`` as an OpenClaw account id; blank or unusable → ``default``.

    Lowercase; runs of other characters than ``[a-z0-9_-]`` collapse to ``-``, leading
    and trailing dashes are dropped, at most 64 characters (OpenClaw's normalizeAccountId).
    """
    lowered = (value or "").strip().lower()
    if not lowered:
        return DEFAULT_ACCOUNT_ID
    if not _AGENT_ID_RE.match(lowered):
        lowered = _INVALID_ID_CHARS.sub("-", lowered).strip("-")[:64]
    if not lowered or lowered in _BLOCKED_ACCOUNT_IDS:
        return DEFAULT_ACCOUNT_ID
    return lowered


def normalize_chat_type(value: str | None) -> str | None:
    """``direct`` (also ``dm``), ``group`` (also ``supergroup``) or ``channel``; else None."""
    return _CHAT_TYPES.get((value or "").strip().lower())


def _linked_peer_id(identity_links: Mapping[str, Sequence[str]], channel: str, peer_id: str) -> str:
    """The canonical name ``identity_links`` gives this peer, or "" when none does.

    An entry matches the raw id or ``<channel>:<id>``, case-insensitively; the first
    name (in the mapping's order) with a matching entry wins.
    """
    candidates = {peer_id.lower()}
    if channel:
        candidates.add(f"{channel}:{peer_id}".lower())
    for name, ids in identity_links.items():
        canonical = str(name).strip()
        if not canonical or isinstance(ids, str) or not isinstance(ids, Sequence):
            continue
        if any(str(entry).strip().lower() in candidates for entry in ids):
            return canonical
    return ""


def _bounded(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH:
        raise SessionKeyError(
            f"session key {key[:60]!r}… is longer than {MAX_KEY_LENGTH} characters; "
            "the peer or thread id is too long"
        )
    return key


def peer_session_key(
    *,
    agent_id: str,
    channel: str,
    account_id: str | None,
    peer_kind: str,
    peer_id: str,
    dm_scope: str,
    identity_links: Mapping[str, Sequence[str]] | None,
    main_key: str = MAIN_KEY,
) -> str:
    """The session key of a channel conversation (reference spec §4.1), lowercased.

    Direct messages by ``dm_scope``: ``main`` → ``agent:<id>:<mainKey>``; ``per-peer`` →
    ``agent:<id>:direct:<peer>``; ``per-channel-peer`` → ``agent:<id>:<channel>:direct:
    <peer>``; ``per-account-channel-peer`` → ``agent:<id>:<channel>:<account>:direct:
    <peer>``. For every scope but ``main`` a peer listed in ``identity_links`` (raw id or
    ``<channel>:<id>``) is replaced by its canonical name, so one person shares a session
    across channels. Groups and channels: ``agent:<id>:<channel>:group|channel:<id>``,
    whatever the scope. Raises ``SessionKeyError`` for an unknown kind or scope, or a key
    longer than ``MAX_KEY_LENGTH``.
    """
    kind = normalize_chat_type(peer_kind)
    if kind is None:
        raise SessionKeyError(f"peer kind {peer_kind!r} is not one of direct, group, channel")
    if dm_scope not in DM_SCOPES:
        raise SessionKeyError(f"dmScope {dm_scope!r} is not one of {', '.join(DM_SCOPES)}")
    agent = normalize_agent_id(agent_id)
    channel_token = channel.strip().lower() or "unknown"
    peer = peer_id.strip()
    if kind != "direct":
        return _bounded(f"agent:{agent}:{channel_token}:{kind}:{(peer or 'unknown').lower()}")
    if dm_scope != "main" and peer and identity_links:
        peer = _linked_peer_id(identity_links, channel.strip().lower(), peer) or peer
    peer = peer.lower()
    if not peer or dm_scope == "main":
        return _bounded(main_session_key(agent, main_key or MAIN_KEY))
    if dm_scope == "per-peer":
        return _bounded(f"agent:{agent}:direct:{peer}")
    if dm_scope == "per-channel-peer":
        return _bounded(f"agent:{agent}:{channel_token}:direct:{peer}")
    account = normalize_account_id(account_id)
    return _bounded(f"agent:{agent}:{channel_token}:{account}:direct:{peer}")


def thread_session_key(
    base_key: str, thread_id: str | int | None, *, marker: str = "thread"
) -> str:
    """``base_key`` with ``:<marker>:<threadId>`` appended (lowercased); unchanged without a
    thread id. Telegram forum topics use ``topic``, Slack and Discord threads ``thread``."""
    if marker not in THREAD_MARKERS:
        raise SessionKeyError(f"thread marker {marker!r} is not one of {', '.join(THREAD_MARKERS)}")
    thread = str(thread_id if thread_id is not None else "").strip().lower()
    if not thread:
        return base_key
    return _bounded(f"{base_key}:{marker}:{thread}")
