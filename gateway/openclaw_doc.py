"""Apply a whole OpenClaw config document to the database: ``manage.py import_openclaw``
and the ``config.set`` RPC (``manage.py export_openclaw`` renders one:
``gateway.openclaw_render``).

The document is checked for unknown keys (each named with the closest known one),
sorted into what this gateway keeps (``gateway.lib.openclaw_normalize``), compared with
the database, and only what differs is written, through the owning apps' services (which
validate every value and name its path): agents (``agents.services.roster``), bindings
(``agents.services.bindings``), channel accounts (``channels_app.services.accounts``),
session settings (``sessions_app.services``) and the gateway paths
(``gateway.config_service``). Applying the same document twice writes nothing the
second time. One transaction: an error anywhere changes nothing.

Two modes:

Settings kept as one object (``hooks``, ``gateway.http``, ``gateway.tools``) are
replaced whole in a savepoint, and the savepoint is rolled back when the stored object
came out the same (so a second import writes nothing).

- ``replace`` (``config.set``): the document is the whole configuration. A key left out
  goes back to its default; an agent or channel account left out is an error (they are
  deleted in the admin); a setting this gateway cannot keep is an error naming it.
- merge (the import): the agents and accounts the document names are created or
  replaced, others are left alone; sections it does not have are left alone; what this
  gateway cannot keep is reported by path (``not_mapped``), not refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from agents import selectors as agent_selectors
from agents.services.bindings import BindingSpec, bindings_replace, bindings_validate
from agents.services.config import ConfigError, agent_value_clean
from agents.services.roster import LEAF_FIELDS, agent_upsert
from channels_app import selectors as channel_selectors
from channels_app.connectors.registry import connector_kinds
from channels_app.lib.account_keys import (
    ACCOUNT_KEYS,
    FIELD_OF,
    REDACTED,
    SECRET_KEYS,
    stored_secrets,
)
from channels_app.services.accounts import (
    channel_account_draft,
    channel_account_draft_save,
    where_of,
)
from gateway import config_service, http_config, listen, origins, proxies
from gateway.lib.openclaw_keys import unknown_keys
from gateway.lib.openclaw_normalize import (
    AGENT_LEAVES,
    AgentSpec,
    Desired,
    DocError,
    NotMapped,
    normalize,
)
from gateway.openclaw_render import (
    FACT_SOURCES,
    agent_leaves,
    bindings_in_order,
    default_workspace,
    environment_facts,
    http_root_value,
    listen_from_env,
    model_canon,
    stored_gateway_values,
    workspace_canon,
)
from sessions_app.lib.keys import normalize_agent_id
from sessions_app.selectors import session_settings
from sessions_app.services import SessionError, session_settings_clean, session_settings_set

MAX_LISTED = 10
_FIELD_KEYS = {name: key for key, name in FIELD_OF.items()}
_SECRET_FACTS = {"gateway.auth.token": "GATEWAY_TOKEN", "gateway.auth.password": "GATEWAY_PASSWORD"}


@dataclass
class ApplyResult:
    changed: list[str] = field(default_factory=list)  # OpenClaw paths written
    created: list[str] = field(default_factory=list)  # agents and accounts created
    not_mapped: list[NotMapped] = field(default_factory=list)


def _listed(items: list[str]) -> str:
    more = len(items) - MAX_LISTED
    return "; ".join(items[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def document_desired(document: Any) -> Desired:
    """Check ``document`` for unknown keys and sort it; ``ConfigError`` on either."""
    unknown = unknown_keys(document)
    if unknown:
        raise ConfigError(_listed([u.describe() for u in unknown]))
    try:
        return normalize(
            document, channel_kinds=tuple(connector_kinds()), normalize_id=normalize_agent_id
        )
    except DocError as exc:
        raise ConfigError(exc.message) from None


# --- agents -----------------------------------------------------------------------------
def _agent_wanted(spec: AgentSpec, desired: Desired) -> dict[str, Any]:
    """Every leaf of the agent as the document wants it (a leaf left out: its default),
    cleaned as the agents service stores it."""
    raw: dict[str, Any] = dict.fromkeys(AGENT_LEAVES)
    raw["workspace"] = default_workspace(spec.slug)
    if spec.slug == desired.default_agent and desired.defaults_workspace:
        raw["workspace"] = desired.defaults_workspace
    raw["model.primary"] = desired.defaults_model.get("primary")
    fallbacks = desired.defaults_model.get("fallbacks")
    if not spec.has_model and fallbacks != list(settings.OPENCLAW_MODEL_FALLBACKS):
        raw["model.fallbacks"] = fallbacks
    raw.update(spec.values)
    wanted: dict[str, Any] = {}
    for leaf, value in raw.items():
        try:
            wanted[leaf] = agent_value_clean(LEAF_FIELDS[leaf], value)
        except ConfigError as exc:
            raise ConfigError(f"{spec.where}.{leaf}: {exc.message}") from None
    wanted["workspace"] = workspace_canon(wanted["workspace"]) or default_workspace(spec.slug)
    wanted["model.primary"] = model_canon(wanted["model.primary"])
    return wanted


def _apply_agents(desired: Desired, result: ApplyResult, *, replace: bool) -> None:
    current = {agent.slug: agent for agent in agent_selectors.agents_default_first()}
    missing = sorted(set(current) - set(desired.agents))
    if replace and missing:
        raise ConfigError(
            f"agents {', '.join(missing)} are not in the document; agents are not deleted by "
            "config (delete them in the admin), so list every agent"
        )
    for slug, spec in desired.agents.items():
        wanted = _agent_wanted(spec, desired)
        have = agent_leaves(current[slug]) if slug in current else None
        changes = {leaf: v for leaf, v in wanted.items() if have is None or have[leaf] != v}
        if "workspace" in changes and changes["workspace"] == default_workspace(slug):
            changes["workspace"] = ""  # the default: follows the data dir
        if have is not None and not changes:
            continue
        agent_upsert(slug=slug, changes=changes, where=spec.where)
        if have is None:
            result.created.append(spec.where)
        else:
            result.changed.extend(f"{spec.where}.{leaf}" for leaf in changes)
    if desired.default_agent is not None:
        now_default = next(iter(agent_selectors.agents_default_first()), None)
        if now_default is None or (now_default.slug, now_default.is_default) != (
            desired.default_agent,
            True,
        ):
            agent_upsert(slug=desired.default_agent, changes={}, where="agents", make_default=True)
            result.changed.append(f"agents (default agent: {desired.default_agent})")


# --- bindings, channels, session, gateway ---------------------------------------------
def _binding_spec(rule: Any) -> BindingSpec:
    return BindingSpec(
        agent_slug=rule.agent.slug,
        channel=rule.channel,
        account_id=rule.account_id,
        peer_kind=rule.peer_kind,
        peer_id=rule.peer_id,
        guild_id=rule.guild_id,
        team_id=rule.team_id,
        roles=tuple(rule.roles),
        comment=rule.comment,
    )


def _apply_bindings(desired: Desired, result: ApplyResult, *, replace: bool) -> None:
    if desired.bindings is None and not replace:
        return
    wanted = desired.bindings or []
    slugs = {agent.slug for agent in agent_selectors.agents_default_first()}
    specs = bindings_validate(wanted, agents=slugs)
    if specs != [_binding_spec(rule) for rule in bindings_in_order()]:
        bindings_replace(wanted)
        result.changed.append("bindings")


def _apply_channels(desired: Desired, result: ApplyResult, *, replace: bool) -> None:
    current = {
        (a.kind, a.account_id): a for a in channel_selectors.channel_accounts(with_credentials=True)
    }
    missing = sorted(where_of(*key) for key in set(current) - set(desired.accounts))
    if replace and missing:
        raise ConfigError(
            f"{', '.join(missing)} are not in the document; accounts are not removed by config "
            "(set enabled: false, or delete them in the admin)"
        )
    for key, spec in desired.accounts.items():
        secrets = stored_secrets(current[key].credentials) if key in current else {}
        changes: dict[str, Any] = {}
        for name in ACCOUNT_KEYS:
            value = spec.values.get(name)
            if name in SECRET_KEYS:
                same = value.strip() if isinstance(value, str) else value
                if value == REDACTED or (same or None) == secrets.get(name):
                    continue
            changes[name] = value
        draft = channel_account_draft(
            kind=spec.kind, account_id=spec.account_id, changes=changes, lock=True
        )
        if not (draft.created or draft.fields or draft.credentials is not None):
            continue
        channel_account_draft_save(draft=draft)
        where = where_of(spec.kind, draft.account.account_id)
        if draft.created:
            result.created.append(where)
        else:
            keys = sorted(
                {_FIELD_KEYS[f] for f in draft.fields} | (set(changes) & set(SECRET_KEYS))
            )
            result.changed.extend(f"{where}.{k}" for k in keys)


def _apply_session(desired: Desired, result: ApplyResult, *, replace: bool) -> None:
    if desired.session is None and not replace:
        return
    given = desired.session or {}
    raw = {"dm_scope": given.get("dmScope"), "identity_links": given.get("identityLinks")}
    raw["reset"] = given.get("reset")
    try:
        clean = session_settings_clean(**raw)
        have = session_settings()
        differs = {
            "dm_scope": clean.dm_scope != have.dm_scope,
            "identity_links": clean.identity_links
            != {name: list(ids) for name, ids in have.identity_links.items()},
            "reset": clean.reset != have.reset,
        }
        changes = {name: raw[name] for name, changed in differs.items() if changed}
        if changes:
            session_settings_set(**changes)
    except SessionError as exc:
        raise ConfigError(exc.message) from None
    names = {"dm_scope": "dmScope", "identity_links": "identityLinks", "reset": "reset"}
    result.changed.extend(f"session.{names[name]}" for name in changes)


def _apply_gateway(desired: Desired, result: ApplyResult, *, replace: bool) -> None:
    stored = stored_gateway_values()
    lists = (
        ("trustedProxies", proxies.CONFIG_PATH, settings.GATEWAY_TRUSTED_PROXIES),
        ("allowedOrigins", origins.ALLOWED_ORIGINS_PATH, settings.GATEWAY_ALLOWED_ORIGINS),
    )
    for name, path, from_env in lists:
        if name not in desired.gateway and not replace:
            continue
        value = desired.gateway.get(name)
        if isinstance(value, list):  # the environment's entries stay whatever the document says
            value = [v.strip() if isinstance(v, str) else v for v in value if v not in from_env]
        if (value or None) != (stored.get(path) or None):
            config_service.config_set(path, value or None)
            result.changed.append(path)
    if "hostFallback" in desired.gateway or replace:
        value = desired.gateway.get("hostFallback")
        if (value or False) != (stored.get(origins.HOST_FALLBACK_PATH) is True):
            config_service.config_set(origins.HOST_FALLBACK_PATH, value or None)
            result.changed.append(origins.HOST_FALLBACK_PATH)


def _apply_listen(desired: Desired, result: ApplyResult, *, replace: bool) -> None:
    """gateway.port/bind/customBindHost: stored for the next start, unless the
    environment sets them (then a different value is reported, not stored)."""
    stored = stored_gateway_values()
    effective = {f"gateway.{k}": v for k, v in listen.configured(stored).items()}
    for path in listen.PATHS:
        if path not in desired.listen and not replace:
            continue
        value = desired.listen.get(path)
        if value == effective.get(path) or (value is None and stored.get(path) is None):
            continue
        if listen_from_env(path):
            why = f"{value!r} here is {effective.get(path)!r}: set by {listen.ENV[path]}"
            result.not_mapped.append(NotMapped(path, why))
            continue
        config_service.config_set(path, value)
        result.changed.append(f"{path} (applies at the next start)")


def _replace_root(path: str, value: dict[str, Any] | None, result: ApplyResult) -> None:
    """Replace one stored object (hooks, gateway.http, gateway.tools) through the config
    service; undone when it comes out as it was."""
    before = http_root_value(stored_gateway_values(), path)
    wanted = dict(value or {})
    if wanted.get("token") == REDACTED:  # config.get's marker: keep the stored token
        wanted.pop("token")
        if before.get("token"):
            wanted["token"] = before["token"]
    savepoint = transaction.savepoint()
    config_service.config_set(path, None)
    if wanted:
        config_service.config_set(path, wanted)
    if http_root_value(stored_gateway_values(), path) == before:
        transaction.savepoint_rollback(savepoint)
    else:
        transaction.savepoint_commit(savepoint)
        result.changed.append(path)


def _apply_http(desired: Desired, result: ApplyResult, *, replace: bool) -> None:
    for path, value in (
        (http_config.HOOKS_PATH, desired.hooks),
        (http_config.HTTP_PATH, desired.http),
        (http_config.TOOLS_PATH, desired.tools),
    ):
        if value is not None or replace:
            _replace_root(path, value, result)


def _check_fixed(desired: Desired, result: ApplyResult) -> None:
    facts = environment_facts()
    for path, value in desired.fixed.items():
        source = FACT_SOURCES.get(path, "not settable here")
        if path in _SECRET_FACTS:
            expected = getattr(settings, _SECRET_FACTS[path])
            if value not in (REDACTED, expected):  # never repeat the value
                result.not_mapped.append(NotMapped(path, f"set by {source}, not imported"))
        elif path not in facts or value != facts[path]:
            here = repr(facts[path]) if path in facts else "unset"
            result.not_mapped.append(NotMapped(path, f"{value!r} here is {here}: {source}"))


@transaction.atomic
def document_apply(document: Mapping[str, Any], *, replace: bool) -> ApplyResult:
    """Apply ``document`` (see the module docstring); ``ConfigError`` changes nothing."""
    desired = document_desired(document)
    result = ApplyResult(not_mapped=list(desired.not_mapped))
    _check_fixed(desired, result)
    if replace and result.not_mapped:
        kept = [f"{n.path} ({n.why})" for n in result.not_mapped]
        raise ConfigError(f"this gateway cannot keep: {_listed(kept)}; remove them")
    _apply_agents(desired, result, replace=replace)
    _apply_bindings(desired, result, replace=replace)
    _apply_channels(desired, result, replace=replace)
    _apply_session(desired, result, replace=replace)
    _apply_gateway(desired, result, replace=replace)
    _apply_listen(desired, result, replace=replace)
    _apply_http(desired, result, replace=replace)
    if replace and result.not_mapped:  # set by the environment (gateway.port, ...)
        kept = [f"{n.path} ({n.why})" for n in result.not_mapped]
        raise ConfigError(f"this gateway cannot keep: {_listed(kept)}; remove them")
    return result
