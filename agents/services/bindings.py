"""OpenClaw's ``bindings[]`` as routing rules: ``config set bindings '[...]'``, config.patch.

The shape (reference spec §5)::

    {agentId, comment?, type?: "route",
     match: {channel, accountId?, peer?: {kind: direct|group|channel, id},
             guildId?, teamId?, roles?: [...]}}

``bindings_replace`` validates the whole list first, then replaces every routing rule
with it in one transaction, config order kept as ``priority`` (the list index). Every bad
value is refused with its path (``bindings[2].match.peer.kind``), what is wrong and what
to write instead; an unknown key with the closest known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction

from agents.models import Agent, RoutingRule
from agents.selectors import routing_forget
from agents.services.config import ConfigError
from core import audit
from sessions_app.lib import keys

BINDING_KEYS = ("agentId", "comment", "match", "type")
MATCH_KEYS = ("channel", "accountId", "peer", "guildId", "teamId", "roles")
PEER_KEYS = ("kind", "id")
PEER_KINDS = ("direct", "group", "channel")
EXAMPLE = '[{"agentId": "main", "match": {"channel": "telegram", "accountId": "*"}}]'


def _field_limit(name: str) -> int:
    field = RoutingRule._meta.get_field(name)
    assert isinstance(field, models.CharField)
    assert field.max_length is not None
    return field.max_length


@dataclass(frozen=True)
class BindingSpec:
    """One validated binding, as a routing rule stores it."""

    agent_slug: str
    channel: str
    account_id: str = ""
    peer_kind: str = ""
    peer_id: str = ""
    guild_id: str = ""
    team_id: str = ""
    roles: tuple[str, ...] = ()
    comment: str = ""


def _unknown_keys(obj: Mapping[Any, Any], known: Sequence[str], where: str) -> None:
    for key in obj:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{where}.{key}: unknown key; {hint}known keys: {', '.join(known)}")


def _object(value: Any, where: str, example: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: takes an object, e.g. {example}")
    return value


def _text(value: Any, where: str, *, limit: int, ids: bool = True) -> str:
    """A string (or, for ids, a whole number: JSON users write Telegram ids as numbers)."""
    if isinstance(value, bool) or not (isinstance(value, str) or (ids and isinstance(value, int))):
        kind = "a string or a whole number" if ids else "a string"
        raise ConfigError(f"{where}: takes {kind}, not {type(value).__name__}")
    text = str(value).strip()
    if len(text) > limit:
        raise ConfigError(f"{where}: longer than {limit} characters")
    return text


def _required(value: Any, where: str, *, limit: int, example: str) -> str:
    if value is None:
        raise ConfigError(f"{where}: is required, e.g. {example}")
    text = _text(value, where, limit=limit)
    if not text:
        raise ConfigError(f"{where}: is empty; e.g. {example}")
    return text


def _agent(value: Any, where: str, agents: Collection[str]) -> str:
    slug = _required(value, where, limit=64, example='"agentId": "main"').lower()
    if slug not in agents:
        close = difflib.get_close_matches(slug, list(agents), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        known = ", ".join(sorted(agents)) or "none yet (start the gateway once)"
        raise ConfigError(f"{where}: no agent {slug!r}; {hint}agents: {known}")
    return slug


def _account(value: Any, where: str) -> str:
    if value is None:
        return ""
    text = _text(value, where, limit=_field_limit("account_id"))
    if text in ("", "*"):
        return text
    account = keys.normalize_account_id(text)
    if account != text.lower():
        raise ConfigError(
            f"{where}: {text!r} is not an account id; use 1-64 letters, digits, '-' or '_' "
            "(e.g. default, work), or '*' for every account"
        )
    return account


def _peer(value: Any, where: str) -> tuple[str, str]:
    if value is None:
        return "", ""
    peer = _object(value, where, '{"kind": "direct", "id": "123456789"}')
    _unknown_keys(peer, PEER_KEYS, where)
    raw_kind = peer.get("kind")
    spelled = raw_kind.strip().lower() if isinstance(raw_kind, str) else ""
    kind = keys.normalize_chat_type(spelled) if spelled in (*PEER_KINDS, "dm") else None
    if kind is None:
        raise ConfigError(
            f"{where}.kind: {raw_kind!r} is not one of {', '.join(PEER_KINDS)} "
            "(dm is accepted as the old name of direct)"
        )
    peer_id = _required(
        peer.get("id"), f"{where}.id", limit=_field_limit("peer_id"), example='"id": "123456789"'
    )
    return kind, peer_id


def _roles(value: Any, where: str, guild_id: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f'{where}: takes a list of Discord role ids, e.g. ["123456789"]')
    roles = tuple(
        _required(r, f"{where}[{n}]", limit=64, example='"123456789"') for n, r in enumerate(value)
    )
    if roles and not guild_id:
        raise ConfigError(f"{where}: roles only apply together with a guildId; add match.guildId")
    return roles


def _optional(obj: Mapping[str, Any], key: str, where: str, *, field: str, ids: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    return _text(value, f"{where}.{key}", limit=_field_limit(field), ids=ids)


def _binding(entry: Any, where: str, agents: Collection[str]) -> BindingSpec:
    binding = _object(entry, where, EXAMPLE[1:-1])
    _unknown_keys(binding, BINDING_KEYS, where)
    kind = binding.get("type", "route")
    if kind != "route":
        raise ConfigError(f'{where}.type: only "route" bindings are supported, not {kind!r}')
    agent_slug = _agent(binding.get("agentId"), f"{where}.agentId", agents)
    comment = _optional(binding, "comment", where, field="comment", ids=False)
    where = f"{where}.match"
    if "match" not in binding:
        raise ConfigError(f'{where}: is required, e.g. {{"channel": "telegram"}}')
    match = _object(binding["match"], where, '{"channel": "telegram", "accountId": "*"}')
    _unknown_keys(match, MATCH_KEYS, where)
    channel = _required(
        match.get("channel"),
        f"{where}.channel",
        limit=_field_limit("channel"),
        example='"channel": "telegram"',
    )
    peer_kind, peer_id = _peer(match.get("peer"), f"{where}.peer")
    guild_id = _optional(match, "guildId", where, field="guild_id")
    return BindingSpec(
        agent_slug=agent_slug,
        channel=channel.lower(),
        account_id=_account(match.get("accountId"), f"{where}.accountId"),
        peer_kind=peer_kind,
        peer_id=peer_id,
        guild_id=guild_id,
        team_id=_optional(match, "teamId", where, field="team_id"),
        roles=_roles(match.get("roles"), f"{where}.roles", guild_id),
        comment=comment,
    )


def bindings_validate(bindings: Any, *, agents: Collection[str]) -> list[BindingSpec]:
    """Validate an OpenClaw ``bindings`` list against the agent ids ``agents``."""
    if not isinstance(bindings, list):
        raise ConfigError(f"bindings: takes a list of bindings, e.g. {EXAMPLE}")
    return [_binding(entry, f"bindings[{n}]", agents) for n, entry in enumerate(bindings)]


@transaction.atomic
def bindings_replace(bindings: list[dict[str, Any]]) -> list[RoutingRule]:
    """Replace every routing rule with ``bindings`` (OpenClaw's ``bindings[]``, in config
    order); ``[]`` removes them all. Raises ``ConfigError`` and changes nothing when any
    entry is bad. The route cache is cleared on commit: the next message routes by it."""
    agents = dict(Agent.objects.values_list("slug", "pk"))
    specs = bindings_validate(bindings, agents=agents)
    RoutingRule.objects.all().delete()
    rules = RoutingRule.objects.bulk_create(
        RoutingRule(
            agent_id=agents[spec.agent_slug],
            channel=spec.channel,
            account_id=spec.account_id,
            peer_kind=spec.peer_kind,
            peer_id=spec.peer_id,
            guild_id=spec.guild_id,
            team_id=spec.team_id,
            roles=list(spec.roles),
            comment=spec.comment,
            priority=index,
            enabled=True,
        )
        for index, spec in enumerate(specs)
    )
    for rule in rules:  # bulk_create sends no signal (the delete above did, per row)
        audit.record("create", rule)
    transaction.on_commit(routing_forget)
    return rules
