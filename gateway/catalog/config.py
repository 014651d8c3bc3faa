"""``config.get`` (and the ``config`` command): the effective configuration, no secrets.

A secret that is set (a channel's ``botToken``, ``webhookSecret``) shows as OpenClaw's
redaction marker, ``__OPENCLAW_REDACTED__``; written back by ``config.patch`` it keeps
the stored value. A secret that is not set is left out.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from django.conf import settings

from agents import selectors as agent_selectors
from agents.heartbeat_selectors import heartbeat_settings
from agents.runtime.model_config import default_model_ref
from agents.services.agents import agent_workspace_path
from channels_app import selectors as channel_selectors
from channels_app.lib.account_keys import REDACTED, SECRET_KEYS, stored_secrets
from gateway import http_config, listen, origins, proxies
from gateway.catalog.agents import agent_model
from gateway.catalog.wire import STORE_PATH
from gateway.models import ConfigEntry
from sessions_app.lib.keys import MAIN_KEY
from sessions_app.selectors import session_settings

if TYPE_CHECKING:
    from agents.models import Agent, RoutingRule
    from channels_app.models import ChannelAccount


def _binding(rule: RoutingRule) -> dict[str, Any]:
    match: dict[str, Any] = {"channel": rule.channel}
    if rule.account_id:
        match["accountId"] = rule.account_id
    if rule.peer_kind:
        match["peer"] = {"kind": rule.peer_kind, "id": rule.peer_id}
    if rule.guild_id:
        match["guildId"] = rule.guild_id
    if rule.team_id:
        match["teamId"] = rule.team_id
    if rule.roles:
        match["roles"] = list(rule.roles)
    binding: dict[str, Any] = {"agentId": rule.agent.slug, "match": match}
    if rule.comment:
        binding["comment"] = rule.comment
    return binding


def _account_config(account: ChannelAccount) -> dict[str, Any]:
    """OpenClaw's keys of one account; policy and ids are configuration, secrets are not."""
    secrets = stored_secrets(account.credentials)
    optional = {
        "name": account.name,
        "apiRoot": account.api_root,
        "webhookUrl": account.webhook_url,
    }
    return {
        "enabled": account.enabled,
        **{key: value for key, value in optional.items() if value},
        **{key: REDACTED for key in SECRET_KEYS if key in secrets},
        "dmPolicy": account.dm_policy,
        "allowFrom": list(account.allow_from),
        "groupPolicy": account.group_policy,
        "groupAllowFrom": list(account.group_allow_from),
        "groups": dict(account.groups) if isinstance(account.groups, dict) else {},
        "requireMention": account.require_mention,
    }


def _session_config() -> dict[str, Any]:
    settings = session_settings()
    reset: dict[str, Any] = {"mode": settings.reset.mode, "atHour": settings.reset.at_hour}
    if settings.reset.idle_minutes is not None:
        reset["idleMinutes"] = settings.reset.idle_minutes
    return {
        "mainKey": MAIN_KEY,
        "scope": "per-sender",
        "dmScope": settings.dm_scope,
        "identityLinks": {name: list(ids) for name, ids in settings.identity_links.items()},
        "reset": reset,
    }


def _agent_config(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.slug,
        "default": agent.is_default,
        **({"name": agent.name} if agent.name else {}),
        "workspace": str(agent_workspace_path(agent)),
        "model": agent_model(agent),
        "identity": {"name": agent.name or None, "emoji": agent.emoji or None},
        "tools": {
            "profile": agent.tool_profile,
            "allow": list(agent.tools_allow),
            "deny": list(agent.tools_deny),
            "sandbox": {
                "tools": {
                    "allow": list(agent.sandbox_tools_allow),
                    "deny": list(agent.sandbox_tools_deny),
                }
            },
        },
        "sandbox": {
            "mode": agent.sandbox_mode,
            "workspaceAccess": agent.sandbox_workspace_access,
        },
        **({"heartbeat": agent.heartbeat} if agent.heartbeat is not None else {}),
    }


def _default_model(default: Any) -> dict[str, str]:
    primary = (default and default.model_primary) or default_model_ref()
    return {"primary": primary} if primary else {}


def config_document() -> dict[str, Any]:
    """Return the effective configuration as an OpenClaw config object, without secrets."""
    agents = agent_selectors.agents_default_first()
    default = agents[0] if agents else None
    heartbeat_defaults = heartbeat_settings().defaults
    # The gateway paths set by config (gateway.config_service), all in one query.
    stored = dict(
        ConfigEntry.objects.filter(
            path__in=(
                proxies.CONFIG_PATH,
                *origins.CONFIG_PATHS,
                *listen.PATHS,
                *http_config.STORED_PATHS,
            )
        ).values_list("path", "value")
    )
    http_gateway, hooks = http_config.document(stored)  # hooks.token only as the marker
    channels: dict[str, Any] = {}
    # Credentials are read to tell which secrets are set; their values never leave here.
    for account in channel_selectors.channel_accounts(with_credentials=True):
        entry = channels.setdefault(account.kind, {"accounts": {}})
        entry["accounts"][account.account_id] = _account_config(account)
    return {
        "gateway": {
            "mode": "local",
            **listen.configured(stored),
            "auth": {"mode": settings.GATEWAY_AUTH_MODE},
            "trustedProxies": proxies.merged(stored.get(proxies.CONFIG_PATH)),
            "controlUi": {
                "allowedOrigins": origins.merged(stored.get(origins.ALLOWED_ORIGINS_PATH)),
                "dangerouslyAllowHostHeaderOriginFallback": (
                    stored.get(origins.HOST_FALLBACK_PATH) is True
                ),
            },
            **http_gateway,
        },
        "agents": {
            "defaults": {
                # The model that answers; none (no primary) when no provider is configured.
                "model": _default_model(default),
                **({"heartbeat": heartbeat_defaults} if heartbeat_defaults is not None else {}),
            },
            "list": [_agent_config(agent) for agent in agents],
        },
        "bindings": [_binding(rule) for rule in agent_selectors.routing_rules_enabled()],
        "channels": channels,
        "session": _session_config(),
        "cron": {"enabled": True, "store": STORE_PATH},
        "hooks": hooks,
    }


def config_snapshot() -> dict[str, Any]:
    """Return ``config.get``: OpenClaw's ConfigFileSnapshot of ``config_document()``.

    The configuration lives in the database, so the snapshot always ``exists`` and is
    ``valid``; ``hash`` is the sha256 of its canonical JSON (a ``baseHash`` for writes).
    """
    config = config_document()
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return {
        "path": STORE_PATH,
        "includedPaths": [],
        "includeProvenance": [],
        "agentRosterIncludeOwned": False,
        "bindingsIncludeOwned": False,
        "exists": True,
        "raw": json.dumps(config, indent=2, ensure_ascii=False),
        "parsed": config,
        "sourceConfig": config,
        "resolved": config,
        "valid": True,
        "runtimeConfig": config,
        "config": config,
        "hash": digest,
        "issues": [],
        "warnings": [],
        "legacyIssues": [],
        "configRevisionHash": digest,
        "appliedConfigHash": digest,
    }
