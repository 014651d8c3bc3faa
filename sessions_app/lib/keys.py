"""OpenClaw's session-key grammar (reference spec §4.1). Pure: no Django.

A canonical key is ``agent:<agentId>:<rest>``, lowercased, e.g. ``agent:main:main`` or
``agent:main:telegram:direct:42``. ``global`` and ``unknown`` stay unprefixed. RPC input
is canonicalized the way OpenClaw's ``resolveSessionStoreKey`` does: ``main`` is the
default agent's main session, and a bare key is prefixed with the default agent.
"""

from __future__ import annotations

import re
from collections.abc import Callable

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
