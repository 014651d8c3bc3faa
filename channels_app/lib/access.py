"""Who may talk to an agent through a channel account (OpenClaw's dmPolicy and groups).

Framework-free: the inbound pipeline passes the account's policy and the message, this
module answers ``accept``, ``pair`` (an unknown DM sender gets a pairing code) or
``drop``, with the reason stored on the inbox row, and whether the sender is an owner.

Decisions, as OpenClaw documents them (reference spec §6):

- **DMs** by ``dmPolicy``: ``pairing`` (default; a sender in ``allowFrom`` or approved by
  pairing talks, anyone else gets a code), ``allowlist`` (others are dropped), ``open``
  (anyone, only with ``"*"`` in ``allowFrom``), ``disabled``.
- **Groups**, in order: ``groupPolicy`` (``open``, ``allowlist``: default, ``disabled``),
  then the group allowlist (``groups``: the chat id or ``"*"``; a group entry with
  ``enabled: false`` is off), then the sender (``groups.<id>.allowFrom``, else
  ``groupAllowFrom``, else ``allowFrom``; no list at all: any member of an allowed
  group), then mention gating (``groups.<id>.requireMention``, else ``groups."*"``, else
  the account's ``requireMention``, default on; a reply to the bot counts). DM pairing
  approvals do not grant group access.
- **Owners**: senders listed by id or username in the account's configured
  ``allowFrom`` (not ``"*"``, not approved by pairing). Only owners may ``/approve``, and
  a turn for anyone else runs sandboxed.

Sender entries may be numeric ids, ``@username``, or carry a ``tg:`` / ``telegram:`` /
``<kind>:`` prefix, compared case-insensitively.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from channels_app.lib.account_keys import DM_POLICIES, GROUP_POLICIES, SENDER_PREFIXES, WILDCARD

Action = Literal["accept", "pair", "drop"]


@dataclass(frozen=True)
class Policy:
    kind: str
    dm_policy: str = "pairing"
    allow_from: tuple[str, ...] = ()
    group_policy: str = "allowlist"
    group_allow_from: tuple[str, ...] = ()
    groups: Mapping[str, Any] | None = None
    require_mention: bool = True


@dataclass(frozen=True)
class Sender:
    id: str
    username: str = ""


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    owner: bool = False


def normalize_entry(entry: object, *, kind: str = "") -> str:
    """One allowFrom entry as compared: lowercased, platform prefix removed."""
    text = str(entry).strip().lower()
    for prefix in (*SENDER_PREFIXES, f"{kind}:" if kind else ""):
        if prefix and text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text


def _refs(sender: Sender) -> set[str]:
    refs = {sender.id.strip().lower()}
    if sender.username:
        refs.add("@" + sender.username.strip().lstrip("@").lower())
    return refs


def listed(entries: Iterable[object], sender: Sender, *, kind: str = "") -> bool:
    """Whether ``sender`` is named in ``entries`` (``"*"`` matches everyone)."""
    refs = _refs(sender)
    for entry in entries:
        value = normalize_entry(entry, kind=kind)
        if value == WILDCARD or value in refs:
            return True
    return False


def is_owner(policy: Policy, sender: Sender) -> bool:
    """Named in the configured ``allowFrom`` itself (the wildcard names no one)."""
    entries = [e for e in policy.allow_from if normalize_entry(e) != WILDCARD]
    return listed(entries, sender, kind=policy.kind)


def decide_direct(
    policy: Policy, sender: Sender, *, approved: bool | Callable[[], bool]
) -> Decision:
    """A direct message: ``approved`` says whether pairing allowlisted this sender; a
    callable is only called when the answer matters (not for ``open`` or ``disabled``:
    it is a database read)."""
    owner = is_owner(policy, sender)
    mode = policy.dm_policy
    if mode not in DM_POLICIES or mode == "disabled":
        return Decision("drop", f"dmPolicy is {mode!r}: direct messages are ignored")
    if mode == "open":
        wildcard = WILDCARD in {normalize_entry(e) for e in policy.allow_from}
        return (
            Decision("accept", "dmPolicy open", owner)
            if wildcard
            else Decision("drop", 'dmPolicy "open" needs "*" in allowFrom; nothing accepted')
        )
    if callable(approved):
        approved = approved()
    if owner or approved or listed(policy.allow_from, sender, kind=policy.kind):
        return Decision("accept", "sender paired" if approved else "sender allowed", owner)
    if mode == "pairing":
        return Decision("pair", "unknown sender: pairing code")
    return Decision("drop", "sender not in allowFrom (dmPolicy allowlist)")


def _group_entry(groups: Mapping[str, Any], chat_id: str) -> Mapping[str, Any] | None:
    entry = groups.get(chat_id)
    if entry is None:
        entry = groups.get(chat_id.lower())
    return entry if isinstance(entry, Mapping) else ({} if entry is not None else None)


def _group_refused(policy: Policy, chat_id: str) -> str:
    """Why groupPolicy and the group allowlist refuse this chat ("" if they do not)."""
    mode = policy.group_policy
    if mode not in GROUP_POLICIES or mode == "disabled":
        return f"groupPolicy is {mode!r}: group messages are ignored"
    groups = policy.groups or {}
    entry = _group_entry(groups, chat_id)
    if entry is not None and entry.get("enabled") is False:
        return f"group {chat_id} is disabled in groups"
    if mode == "allowlist" and entry is None and _group_entry(groups, WILDCARD) is None:
        return f"group {chat_id} is not in groups (groupPolicy allowlist)"
    return ""


def decide_group(policy: Policy, sender: Sender, *, chat_id: str, mentioned: bool) -> Decision:
    """A message in a group, supergroup or channel chat."""
    refused = _group_refused(policy, chat_id)
    if refused:
        return Decision("drop", refused)
    groups = policy.groups or {}
    entry = _group_entry(groups, chat_id)
    wildcard = _group_entry(groups, WILDCARD)
    own = entry if entry is not None else (wildcard or {})
    senders = own.get("allowFrom") or policy.group_allow_from or policy.allow_from
    if senders and not listed(senders, sender, kind=policy.kind):
        return Decision("drop", "sender not allowed in this group (groupAllowFrom)")
    require = own.get("requireMention")
    if require is None and wildcard is not None:
        require = wildcard.get("requireMention")
    if require is None:
        require = policy.require_mention
    if require and not mentioned:
        return Decision("drop", "not mentioned (requireMention)")
    return Decision("accept", "group message", is_owner(policy, sender))
