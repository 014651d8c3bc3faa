"""The database as an OpenClaw 2026.9 ``openclaw.json`` (``manage.py export_openclaw``),
and the current state that ``gateway.openclaw_doc`` compares a document with.

The document is in OpenClaw 2026.9.6's own shape, which its ``openclaw config validate``
accepts without a warning:

- ``agents.entries.<id>`` (the default agent first), each with its effective workspace
  and its own model, tool policy and sandbox; with more than one agent,
  ``agents.ownership: "explicit"``, ``agents.defaults.systemAgent.agentId`` naming the
  default agent, and for each channel without a channel-wide binding one that sends it
  to the default agent (what this gateway does with a message no binding matches);
  ``agents.defaults.model`` is the gateway's default model (``OPENCLAW_MODEL``);
- ``channels.<kind>.accounts.<id>`` for every account, the default one included, so no
  account inherits another's settings;
- ``session``, ``bindings``, ``hooks`` and ``gateway`` (port and bind as a start would
  take them, the auth mode, trusted proxies, Control UI origins, the HTTP endpoints
  switched on, the HTTP tool policy).

Secrets (``botToken``, ``webhookSecret``, ``hooks.token``): by default an env reference
that OpenClaw resolves when it loads the file, ``${TELEGRAM_BOT_TOKEN}`` for the default
account, ``${TELEGRAM_BOT_TOKEN_WORK}`` for account ``work``, ``${OPENCLAW_HOOKS_TOKEN}``;
with ``include_secrets`` the values themselves. The gateway token is never written
(OpenClaw reads the same ``OPENCLAW_GATEWAY_TOKEN``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from agents import selectors as agent_selectors
from agents.models import Agent
from agents.runtime.model_config import PLACEHOLDER_REF, default_model_ref
from agents.services.agents import agent_workspace_path
from channels_app import selectors as channel_selectors
from channels_app.lib.account_keys import FIELD_OF, SECRET_KEYS, stored_secrets
from core import crypto
from gateway import http_config, listen, origins, proxies
from gateway.models import ConfigEntry
from sessions_app.lib.keys import MAIN_KEY
from sessions_app.selectors import session_settings

if TYPE_CHECKING:
    from agents.models import RoutingRule
    from channels_app.models import ChannelAccount

DEFAULT_ACCOUNT = "default"
HOOKS_TOKEN_ENV = "OPENCLAW_HOOKS_TOKEN"  # noqa: S105  (a variable name)
_ENV_UNSAFE = re.compile(r"[^A-Z0-9_]")
# Kept here, not in OpenClaw 2026.9's schema: never exported.
_NOT_OPENCLAW_HOOK_KEYS = ("maxBodyBytes",)


# --- facts and current state ------------------------------------------------------------
def environment_facts() -> dict[str, Any]:
    """Values the environment sets here (a document may repeat them, not change them)."""
    return {
        "gateway.mode": "local",
        "gateway.auth.mode": settings.GATEWAY_AUTH_MODE,
        "session.mainKey": MAIN_KEY,
        "session.scope": "per-sender",
    }


def listen_from_env(path: str) -> bool:
    """Whether the environment sets gateway.port/bind/customBindHost (it wins over the
    database, ``gateway.listen``)."""
    return bool(os.environ.get(listen.ENV[path], "").strip())


# Where each fact comes from, for the hint of a value that differs.
FACT_SOURCES = {
    "gateway.mode": "this gateway only runs locally",
    "gateway.auth.mode": "OPENCLAW_GATEWAY_AUTH_MODE",
    "gateway.auth.token": "OPENCLAW_GATEWAY_TOKEN (or manage.py gateway_token)",
    "gateway.auth.password": "OPENCLAW_GATEWAY_PASSWORD",
    "session.mainKey": "the main session key is always main here",
    "session.scope": "sessions are always per sender here",
}


def default_model() -> str:
    return default_model_ref() or ""


def model_canon(ref: Any) -> Any:
    """A primary model as stored: "" when it is the gateway's default (or the placeholder
    ``config.get`` shows when no model is configured); anything else unchanged."""
    if not isinstance(ref, str):
        return ref
    ref = ref.strip()
    default = default_model()
    if ref in ("", default) or (not default and ref == PLACEHOLDER_REF):
        return ""
    return ref


def default_workspace(slug: str) -> str:
    """Where an agent without a workspace of its own works (<data dir>/workspaces/<id>)."""
    return str(agent_workspace_path(Agent(slug=slug)))


def workspace_canon(value: Any) -> Any:
    return str(Path(value).expanduser()) if isinstance(value, str) and value.strip() else value


def agent_leaves(agent: Agent) -> dict[str, Any]:
    """An agent's OpenClaw leaves as ``gateway.openclaw_doc`` compares them."""
    return {
        "name": agent.name,
        "identity.emoji": agent.emoji,
        "workspace": str(agent_workspace_path(agent)),
        "model.primary": model_canon(agent.model_primary),
        "model.fallbacks": list(agent.model_fallbacks),
        "tools.profile": agent.tool_profile,
        "tools.allow": list(agent.tools_allow),
        "tools.deny": list(agent.tools_deny),
        "tools.sandbox.tools.allow": list(agent.sandbox_tools_allow),
        "tools.sandbox.tools.deny": list(agent.sandbox_tools_deny),
        "sandbox.mode": agent.sandbox_mode,
        "sandbox.workspaceAccess": agent.sandbox_workspace_access,
    }


def account_values(account: ChannelAccount) -> dict[str, Any]:
    """An account's OpenClaw keys with its secrets' values (never shown as they are)."""
    values = {key: getattr(account, name) for key, name in FIELD_OF.items()}
    values.update(stored_secrets(account.credentials))
    return values


def stored_gateway_values() -> dict[str, Any]:
    """What config set stored for the gateway paths (the environment's part excluded)."""
    paths = (proxies.CONFIG_PATH, *origins.CONFIG_PATHS, *listen.PATHS, *http_config.STORED_PATHS)
    return dict(ConfigEntry.objects.filter(path__in=paths).values_list("path", "value"))


def http_root_value(stored: Mapping[str, Any], path: str) -> dict[str, Any]:
    """One of ``hooks``, ``gateway.http``, ``gateway.tools`` as stored, the hooks token
    decrypted (compared, never shown)."""
    value = stored.get(path)
    value = dict(value) if isinstance(value, Mapping) else {}
    encrypted = value.pop(http_config.TOKEN_FIELD, None)
    if encrypted:
        try:
            value["token"] = crypto.decrypt(str(encrypted))
        except crypto.DecryptionError:
            value["token"] = None
    return value


# --- rendering ---------------------------------------------------------------------------
@dataclass
class Rendered:
    document: dict[str, Any]
    env_refs: list[str] = field(default_factory=list)  # the variables the document names
    notes: list[str] = field(default_factory=list)  # what could not be written


def secret_env_name(kind: str, account_id: str, key: str) -> str:
    """``TELEGRAM_BOT_TOKEN`` (default account), ``TELEGRAM_WEBHOOK_SECRET_WORK`` (work)."""
    suffix = {"botToken": "BOT_TOKEN", "webhookSecret": "WEBHOOK_SECRET"}[key]
    name = f"{kind}_{suffix}" + ("" if account_id == DEFAULT_ACCOUNT else f"_{account_id}")
    return _ENV_UNSAFE.sub("_", name.upper())


def _agent_entry(agent: Agent) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if agent.name:
        entry["name"] = agent.name
    entry["workspace"] = str(agent_workspace_path(agent))
    primary = model_canon(agent.model_primary)
    if primary or agent.model_fallbacks:
        model: dict[str, Any] = {"primary": primary or default_model()}
        if agent.model_fallbacks:
            model["fallbacks"] = list(agent.model_fallbacks)
        entry["model"] = {k: v for k, v in model.items() if v}
    if agent.emoji:
        entry["identity"] = {"emoji": agent.emoji}
    tools: dict[str, Any] = {"profile": agent.tool_profile}
    for key, values in (("allow", agent.tools_allow), ("deny", agent.tools_deny)):
        if values:
            tools[key] = list(values)
    sandbox_tools = {
        key: list(values)
        for key, values in (
            ("allow", agent.sandbox_tools_allow),
            ("deny", agent.sandbox_tools_deny),
        )
        if values
    }
    if sandbox_tools:
        tools["sandbox"] = {"tools": sandbox_tools}
    entry["tools"] = tools
    entry["sandbox"] = {
        "mode": agent.sandbox_mode,
        "workspaceAccess": agent.sandbox_workspace_access,
    }
    return entry


def binding_of(rule: RoutingRule) -> dict[str, Any]:
    match: dict[str, Any] = {"channel": rule.channel}
    if rule.account_id:
        match["accountId"] = rule.account_id
    if rule.peer_kind:
        match["peer"] = {"kind": rule.peer_kind, "id": rule.peer_id}
    match.update({k: v for k, v in (("guildId", rule.guild_id), ("teamId", rule.team_id)) if v})
    if rule.roles:
        match["roles"] = list(rule.roles)
    binding: dict[str, Any] = {"agentId": rule.agent.slug}
    if rule.comment:
        binding["comment"] = rule.comment
    binding["match"] = match
    return binding


def bindings_in_order() -> list[RoutingRule]:
    """The enabled routing rules in config order (priority), as ``bindings_replace`` wrote."""
    return sorted(agent_selectors.routing_rules_enabled(), key=lambda r: (r.priority, r.pk))


def _channel_wide(binding: dict[str, Any], kind: str) -> bool:
    match = binding["match"]
    return match["channel"] == kind and match.get("accountId") == "*" and len(match) == 2


def _account_entry(
    account: ChannelAccount, out: Rendered, *, include_secrets: bool
) -> dict[str, Any]:
    entry: dict[str, Any] = {"enabled": account.enabled}
    if account.name:
        entry["name"] = account.name
    secrets = stored_secrets(account.credentials)
    for key in SECRET_KEYS:
        if key not in secrets:
            continue
        if include_secrets:
            entry[key] = secrets[key]
        else:
            name = secret_env_name(account.kind, account.account_id, key)
            entry[key] = "${" + name + "}"
            out.env_refs.append(name)
    optional = (("apiRoot", account.api_root), ("webhookUrl", account.webhook_url))
    entry.update({key: value for key, value in optional if value})
    entry["dmPolicy"] = account.dm_policy
    if account.allow_from:
        entry["allowFrom"] = list(account.allow_from)
    entry["groupPolicy"] = account.group_policy
    if account.group_allow_from:
        entry["groupAllowFrom"] = list(account.group_allow_from)
    if isinstance(account.groups, dict) and account.groups:
        entry["groups"] = dict(account.groups)
    if not account.require_mention:
        where = f"channels.{account.kind}.accounts.{account.account_id}"
        out.notes.append(
            f"{where}.requireMention false is not written: OpenClaw has no account-wide "
            f'switch; set requireMention per group in {where}.groups (e.g. "*")'
        )
    return entry


def _gateway(stored: Mapping[str, Any], out: Rendered) -> dict[str, Any]:
    gateway: dict[str, Any] = {"mode": "local", **listen.configured(dict(stored))}
    gateway["auth"] = {"mode": settings.GATEWAY_AUTH_MODE}
    trusted = proxies.merged(stored.get(proxies.CONFIG_PATH))
    if trusted:
        gateway["trustedProxies"] = trusted
    control_ui: dict[str, Any] = {}
    allowed = origins.merged(stored.get(origins.ALLOWED_ORIGINS_PATH))
    if allowed:
        control_ui["allowedOrigins"] = allowed
    if stored.get(origins.HOST_FALLBACK_PATH) is True:
        control_ui["dangerouslyAllowHostHeaderOriginFallback"] = True
    if control_ui:
        gateway["controlUi"] = control_ui
    endpoints = http_root_value(stored, http_config.HTTP_PATH).get("endpoints") or {}
    switched_on = {}
    for name, entry in endpoints.items():
        if entry.get("enabled") is True:
            switched_on[name] = {"enabled": True}
        if entry.get("maxBodyBytes") is not None:
            out.notes.append(
                f"gateway.http.endpoints.{name}.maxBodyBytes is not written: OpenClaw has no "
                "such key"
            )
    if switched_on:
        gateway["http"] = {"endpoints": switched_on}
    tools = http_root_value(stored, http_config.TOOLS_PATH)
    if tools:
        gateway["tools"] = tools
    return gateway


def _hooks(stored: Mapping[str, Any], out: Rendered, *, include_secrets: bool) -> dict[str, Any]:
    hooks = http_root_value(stored, http_config.HOOKS_PATH)
    for key in _NOT_OPENCLAW_HOOK_KEYS:
        if hooks.pop(key, None) is not None:
            out.notes.append(f"hooks.{key} is not written: OpenClaw 2026.9 has no such key")
    if hooks.get("token") and not include_secrets:
        hooks["token"] = "${" + HOOKS_TOKEN_ENV + "}"
        out.env_refs.append(HOOKS_TOKEN_ENV)
    return hooks


def _session() -> dict[str, Any]:
    current = session_settings()
    reset: dict[str, Any] = {"mode": current.reset.mode, "atHour": current.reset.at_hour}
    if current.reset.idle_minutes is not None:
        reset["idleMinutes"] = current.reset.idle_minutes
    session: dict[str, Any] = {"dmScope": current.dm_scope}
    if current.identity_links:
        session["identityLinks"] = {k: list(v) for k, v in current.identity_links.items()}
    session["reset"] = reset
    return session


def document_render(*, include_secrets: bool = False) -> Rendered:
    """The database as an OpenClaw 2026.9 config (see the module docstring)."""
    out = Rendered(document={})
    agents = agent_selectors.agents_default_first()
    accounts = channel_selectors.channel_accounts(with_credentials=True)
    document = out.document
    stored = stored_gateway_values()
    document["gateway"] = _gateway(stored, out)
    if agents:
        block: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        if default_model():
            defaults["model"] = {"primary": default_model()}
            if settings.OPENCLAW_MODEL_FALLBACKS:
                defaults["model"]["fallbacks"] = list(settings.OPENCLAW_MODEL_FALLBACKS)
        if len(agents) > 1:
            block["ownership"] = "explicit"
            defaults["systemAgent"] = {"agentId": agents[0].slug}
        if defaults:
            block["defaults"] = defaults
        block["entries"] = {agent.slug: _agent_entry(agent) for agent in agents}
        document["agents"] = block
    bindings = [binding_of(rule) for rule in bindings_in_order()]
    if len(agents) > 1:
        for kind in sorted({a.kind for a in accounts if a.enabled}):
            if not any(_channel_wide(b, kind) for b in bindings):
                bindings.append(
                    {"agentId": agents[0].slug, "match": {"channel": kind, "accountId": "*"}}
                )
    if bindings:
        document["bindings"] = bindings
    channels: dict[str, Any] = {}
    for account in accounts:
        kind_block = channels.setdefault(account.kind, {"accounts": {}})
        kind_block["accounts"][account.account_id] = _account_entry(
            account, out, include_secrets=include_secrets
        )
    if channels:
        document["channels"] = channels
    document["session"] = _session()
    hooks = _hooks(stored, out, include_secrets=include_secrets)
    if hooks:
        document["hooks"] = hooks
    return out
