"""Which agent answers a channel message: OpenClaw's bindings (reference spec §5). Pure.

Bindings are given in config order. Only those of the message's channel (lowercased)
and account count: a binding without an account id matches only the ``default``
account, ``*`` every account, any other id that account (ids normalized as OpenClaw
does). Then the first tier with a match wins, config order deciding within a tier:

1. ``binding.peer``: the binding's peer (kind and id) is the message's peer;
2. ``binding.peer.parent``: ... is the thread's parent peer;
3. ``binding.guild+roles``: its guild, and one of its roles among the member's;
4. ``binding.guild``: its guild (a binding without roles);
5. ``binding.team``: its team (Slack, MS Teams);
6. ``binding.account``: a binding for the account, naming nothing narrower;
7. ``binding.channel``: a binding for every account (``*``), naming nothing narrower;
8. ``default``: no binding matched (``Route.agent_id`` is None: the default agent).

A binding sits in the tier of the narrowest thing it names, and must also satisfy
everything else it names (a peer binding with a guild needs both). ``group`` and
``channel`` peer kinds match each other. The same logic as OpenClaw's
``resolveAgentRoute`` (src/routing/resolve-route.ts), without its caches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sessions_app.lib.keys import DEFAULT_ACCOUNT_ID, normalize_account_id, normalize_chat_type

ANY_ACCOUNT = "*"
TIERS = (
    "binding.peer",
    "binding.peer.parent",
    "binding.guild+roles",
    "binding.guild",
    "binding.team",
    "binding.account",
    "binding.channel",
)
DEFAULT = "default"


@dataclass(frozen=True)
class Binding:
    """One ``bindings[]`` entry. ``account_id``: "" only the default account, "*" any.

    ``peer_kind``/``peer_id`` are both set or both blank; ``roles`` are Discord role ids.
    """

    agent_id: str
    channel: str
    account_id: str = ""
    peer_kind: str = ""
    peer_id: str = ""
    guild_id: str = ""
    team_id: str = ""
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteInput:
    """What the message says about where it came from (blank: not applicable)."""

    channel: str
    account_id: str = ""
    peer_kind: str = ""
    peer_id: str = ""
    parent_peer_kind: str = ""
    parent_peer_id: str = ""
    guild_id: str = ""
    member_role_ids: tuple[str, ...] = ()
    team_id: str = ""


@dataclass(frozen=True)
class Route:
    """The binding's agent id (None for ``default``) and the tier that matched."""

    agent_id: str | None
    matched_by: str


@dataclass(frozen=True)
class _Peer:
    kind: str
    id: str


@dataclass(frozen=True)
class _Scope:
    peer: _Peer | None
    guild_id: str
    team_id: str
    roles: frozenset[str]


def _peer(kind: str, peer_id: str) -> _Peer | None:
    normalized = normalize_chat_type(kind)
    ident = peer_id.strip()
    return _Peer(normalized, ident) if normalized and ident else None


def _kinds_match(a: str, b: str) -> bool:
    return a == b or {a, b} == {"group", "channel"}


def _account_matches(pattern: str, account_id: str) -> bool:
    pattern = pattern.strip()
    if pattern == ANY_ACCOUNT:
        return True
    return (normalize_account_id(pattern) if pattern else DEFAULT_ACCOUNT_ID) == account_id


def _tier(binding: Binding) -> str | None:
    """The tier a binding competes in (the narrowest thing it names); None: never matches."""
    if binding.peer_kind.strip() or binding.peer_id.strip():
        # A peer with an unknown kind or no id is invalid: OpenClaw never matches it.
        return "binding.peer" if _peer(binding.peer_kind, binding.peer_id) else None
    if binding.guild_id.strip():
        return "binding.guild+roles" if _roles(binding) else "binding.guild"
    if binding.team_id.strip():
        return "binding.team"
    if binding.account_id.strip() == ANY_ACCOUNT:
        return "binding.channel"
    return "binding.account"


def _roles(binding: Binding) -> frozenset[str]:
    return frozenset(r.strip() for r in binding.roles if r.strip())


def _satisfies(binding: Binding, scope: _Scope) -> bool:
    """Everything the binding names holds for the message (OpenClaw matchesBindingScope)."""
    wanted = _peer(binding.peer_kind, binding.peer_id)
    if wanted is not None and (
        scope.peer is None
        or not _kinds_match(wanted.kind, scope.peer.kind)
        or wanted.id != scope.peer.id
    ):
        return False
    guild = binding.guild_id.strip()
    if guild and guild != scope.guild_id:
        return False
    team = binding.team_id.strip()
    if team and team != scope.team_id:
        return False
    roles = _roles(binding)
    return not roles or bool(roles & scope.roles)


def resolve_route(bindings: Iterable[Binding], message: RouteInput) -> Route:
    """The agent for ``message`` by ``bindings`` (in config order); see the module doc."""
    channel = message.channel.strip().lower()
    account_id = normalize_account_id(message.account_id)
    peer = _peer(message.peer_kind, message.peer_id)
    parent = _peer(message.parent_peer_kind, message.parent_peer_id)
    guild_id = message.guild_id.strip()
    team_id = message.team_id.strip()
    roles = frozenset(r.strip() for r in message.member_role_ids if r.strip())

    by_tier: dict[str, list[Binding]] = {tier: [] for tier in TIERS}
    for binding in bindings:
        if binding.channel.strip().lower() != channel or not channel:
            continue
        if not _account_matches(binding.account_id, account_id):
            continue
        tier = _tier(binding)
        if tier is not None:
            by_tier[tier].append(binding)
        if tier == "binding.peer":  # the same bindings, tried against the parent peer
            by_tier["binding.peer.parent"].append(binding)

    scope = _Scope(peer=peer, guild_id=guild_id, team_id=team_id, roles=roles)
    parent_scope = _Scope(peer=parent, guild_id=guild_id, team_id=team_id, roles=roles)
    enabled = {
        "binding.peer": peer is not None,
        "binding.peer.parent": parent is not None,
        "binding.guild+roles": bool(guild_id and roles),
        "binding.guild": bool(guild_id),
        "binding.team": bool(team_id),
    }
    for tier in TIERS:
        if not enabled.get(tier, True):
            continue
        tier_scope = parent_scope if tier == "binding.peer.parent" else scope
        for binding in by_tier[tier]:
            if _satisfies(binding, tier_scope):
                return Route(agent_id=binding.agent_id, matched_by=tier)
    return Route(agent_id=None, matched_by=DEFAULT)


def tier_of(binding: Binding) -> str | None:
    """The tier ``binding`` competes in, or None when it can never match (a peer without
    a known kind or an id)."""
    return _tier(binding)
