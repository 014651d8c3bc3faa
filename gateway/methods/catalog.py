"""Catalog methods: status, agents, models, commands, config, channels, logs, nodes,
device pairing, and the start-up calls of OpenClaw's TUI and Control UI.

Payload shapes follow what OpenClaw 2026.9.6's gateway answered in
``tests/fixtures/openclaw-frames.jsonl``; the modules of ``gateway.catalog`` build them,
and none ever carries a secret. Sync handlers make their one database call
through the registry; handlers that need no database are ``async`` and stay on the loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from pydantic import Field

from agents.services.config import ConfigError
from core.clock import now_ms
from core.logbuffer import log_tail
from gateway import scopes as gw_scopes
from gateway.catalog import agents as agent_wire
from gateway.catalog import channels as channel_wire
from gateway.catalog import commands as command_wire
from gateway.catalog import config as config_wire
from gateway.catalog import devices as device_wire
from gateway.catalog import logs as log_wire
from gateway.catalog import nodes as node_wire
from gateway.catalog import status as status_wire
from gateway.catalog import system as system_wire
from gateway.catalog.wire import INSTANCE_ID, ms
from gateway.config_service import config_patch as apply_patch
from gateway.device_pairing import (
    Caller,
    DevicePairingError,
    device_pair_approve,
    device_pair_reject,
    device_pair_remove,
)

# chat.py and sessions.py own the ``chat.*`` and ``sessions.*`` names: importing them
# first lets their real handlers win over the start-up fallbacks registered below.
from gateway.methods import chat as _chat_methods  # noqa: F401
from gateway.methods import sessions as _session_methods  # noqa: F401
from gateway.methods.registry import REGISTRY, CallContext, MethodError, Params, WireParams, method
from sessions_app.lib.keys import DEFAULT_AGENT_ID

LOG_FILE = "memory"  # logs.tail reads this process's in-memory ring (core/logbuffer.py)


def _is_admin(ctx: CallContext) -> bool:
    return gw_scopes.ADMIN in ctx.scopes


# --- status, agents, models, commands --------------------------------------------------
class StatusParams(WireParams):
    include_channel_summary: bool | None = None


@method("status", params=StatusParams)
def status(ctx: CallContext, params: StatusParams) -> dict[str, Any]:
    return status_wire.status_summary(include_sensitive=_is_admin(ctx))


@method("agents.list")
def agents_list(ctx: CallContext, params: Params) -> dict[str, Any]:
    return agent_wire.agents_list()


class AgentIdentityParams(WireParams):
    agent_id: str | None = None
    session_key: str | None = None


@method("agent.identity.get", params=AgentIdentityParams)
def agent_identity_get(ctx: CallContext, params: AgentIdentityParams) -> dict[str, Any]:
    requested = (params.agent_id or "").strip().lower() or None
    from_key = (
        agent_wire.agent_slug_from_session_key(params.session_key) if params.session_key else None
    )
    if requested and from_key and requested != from_key:
        raise MethodError(
            f"agentId {requested!r} does not match session key {params.session_key!r}; "
            "send one of them"
        )
    agent_id = requested or from_key
    identity = agent_wire.agent_identity(agent_id=agent_id)
    if identity is None:
        raise MethodError(
            f"unknown agent id: {agent_id or DEFAULT_AGENT_ID}; list agents with agents.list"
        )
    return dict(identity)


@method("models.list")
def models_list(ctx: CallContext, params: Params) -> dict[str, Any]:
    return {"models": agent_wire.models_list()}


class CommandsListParams(WireParams):
    agent_id: str | None = None
    scope: str | None = None
    include_args: bool | None = None


@method("commands.list", params=CommandsListParams)
async def commands_list(ctx: CallContext, params: CommandsListParams) -> dict[str, Any]:
    # Every command works both typed and as a native command, so ``scope`` filters nothing.
    return {"commands": command_wire.slash_commands(include_args=params.include_args is not False)}


# --- config, channels, logs -----------------------------------------------------------
@method("config.get")
def config_get(ctx: CallContext, params: Params) -> dict[str, Any]:
    return config_wire.config_snapshot()


class ConfigPatchParams(WireParams):
    raw: str = Field(min_length=1, max_length=65_536)
    base_hash: str | None = None
    session_key: str | None = None
    note: str | None = None
    restart_delay_ms: int | None = Field(default=None, ge=0)


@method("config.patch", params=ConfigPatchParams)
def config_patch(ctx: CallContext, params: ConfigPatchParams) -> dict[str, Any]:
    """A JSON5 merge patch of the settable paths (gateway.config_service); no restart."""
    current = config_wire.config_snapshot()
    if not params.base_hash:
        raise MethodError("config base hash required; re-run config.get and retry")
    if params.base_hash != current["hash"]:
        raise MethodError("config changed since last load; re-run config.get and retry")
    try:
        import json5  # noqa: PLC0415  (lazy: config.patch is rare; keeps idle memory down)

        patch = json5.loads(params.raw)
    except ValueError as exc:
        raise MethodError(f"raw is not valid JSON5: {exc}") from None
    except RecursionError:
        raise MethodError("raw is nested too deeply; send a shallow merge patch") from None
    try:
        apply_patch(patch)
    except ConfigError as exc:
        raise MethodError(exc.message) from None
    snapshot = config_wire.config_snapshot()
    return {"ok": True, "path": snapshot["path"], "config": snapshot["config"], "restart": None}


class ConfigSetParams(ConfigPatchParams):
    raw: str = Field(min_length=1, max_length=1_048_576)


@method("config.set", params=ConfigSetParams)
def config_set(ctx: CallContext, params: ConfigSetParams) -> dict[str, Any]:
    """Replace the whole configuration with ``raw`` (JSON5, what config.get shows): what
    differs is applied in one transaction (gateway.openclaw_doc), no restart."""
    from gateway import openclaw_doc  # noqa: PLC0415  (lazy: rare; keeps start-up lean)
    from gateway.lib.openclaw_source import SourceError, parse_json5  # noqa: PLC0415

    if not params.base_hash:
        raise MethodError("config base hash required; re-run config.get and retry")
    if params.base_hash != config_wire.config_snapshot()["hash"]:
        raise MethodError("config changed since last load; re-run config.get and retry")
    try:
        document = parse_json5(params.raw, name="raw")
        openclaw_doc.document_apply(document, replace=True)
    except SourceError as exc:
        raise MethodError(f"raw is not valid JSON5: {exc.message}") from None
    except ConfigError as exc:
        raise MethodError(exc.message) from None
    snapshot = config_wire.config_snapshot()
    return {"ok": True, "path": snapshot["path"], "config": snapshot["config"]}


class ChannelsStatusParams(WireParams):
    probe: bool | None = None
    timeout_ms: int | None = Field(default=None, ge=0)


@method("channels.status", params=ChannelsStatusParams)
def channels_status(ctx: CallContext, params: ChannelsStatusParams) -> dict[str, Any]:
    return channel_wire.channels_status()


class LogsTailParams(WireParams):
    cursor: int | None = Field(default=None, ge=0)
    limit: int = Field(default=500, ge=1, le=5000)
    max_bytes: int = Field(default=250_000, ge=1, le=1_000_000)


@method("logs.tail", params=LogsTailParams)
async def logs_tail(ctx: CallContext, params: LogsTailParams) -> dict[str, Any]:
    tail = log_tail(cursor=params.cursor, limit=params.limit, max_bytes=params.max_bytes)
    return {
        "file": LOG_FILE,
        "cursor": tail.cursor,
        "size": tail.size,
        # One JSON object per line, as OpenClaw's log file (the Control UI parses them).
        "lines": log_wire.jsonl_lines(tail.lines),
        "truncated": tail.truncated,
        "reset": tail.reset,
    }


# --- nodes and device pairing ---------------------------------------------------------
@method("node.list")
def node_list(ctx: CallContext, params: Params) -> dict[str, Any]:
    # OpenClaw's paired node devices and the cluster's Celery workers (docs/nodes.md).
    return node_wire.nodes_list()


def _caller(ctx: CallContext) -> Caller:
    return Caller(scopes=ctx.scopes, device_id=ctx.device_id)


@method("device.pair.list")
def device_pair_list(ctx: CallContext, params: Params) -> dict[str, Any]:
    # Without admin, a client connected as a device sees only its own entries (OpenClaw).
    only = None if _is_admin(ctx) else ctx.device_id
    return device_wire.device_pairing_list(only_device_id=only)


class DevicePairRequestParams(WireParams):
    request_id: str = Field(min_length=1, max_length=100)


class DevicePairRemoveParams(WireParams):
    device_id: str = Field(min_length=1, max_length=100)


@method("device.pair.approve", params=DevicePairRequestParams)
def device_pair_approve_method(ctx: CallContext, params: DevicePairRequestParams) -> dict[str, Any]:
    try:
        resolved = device_pair_approve(request_id=params.request_id, caller=_caller(ctx))
    except DevicePairingError as exc:
        raise MethodError(str(exc)) from None
    return {"requestId": resolved.request_id, "device": device_wire.device_paired(resolved.device)}


@method("device.pair.reject", params=DevicePairRequestParams)
def device_pair_reject_method(ctx: CallContext, params: DevicePairRequestParams) -> dict[str, Any]:
    try:
        resolved = device_pair_reject(request_id=params.request_id, caller=_caller(ctx))
    except DevicePairingError as exc:
        raise MethodError(str(exc)) from None
    return {"requestId": resolved.request_id, "deviceId": resolved.device.device_id}


@method("device.pair.remove", params=DevicePairRemoveParams)
def device_pair_remove_method(ctx: CallContext, params: DevicePairRemoveParams) -> dict[str, Any]:
    try:
        device = device_pair_remove(device_id=params.device_id, caller=_caller(ctx))
    except DevicePairingError as exc:
        raise MethodError(str(exc)) from None
    return {"deviceId": device.device_id, "removedAtMs": ms(device.updated_at)}


# --- start-up calls of OpenClaw's TUI and Control UI ----------------------------------
# Features this gateway does not have (questions, tasks, boards, plugins, talk, ...). The
# real clients call them on start and break on an error, so each answers the empty form
# of what OpenClaw answered (captured frames). They reveal nothing, hence read scope
# (admin under OpenClaw's admin-only prefixes), and they are not advertised in hello-ok.
class SessionKeyParams(WireParams):
    session_key: str | None = None


class SessionKeysParams(WireParams):
    session_keys: list[str] = Field(default_factory=list)


class SurfaceParams(Params):
    surface: str | None = None


def _startup_stub(name: str, params: type[Params], answer: Callable[[Any], Any]) -> None:
    if name in REGISTRY:  # the owning module implements it for real
        return

    async def handler(ctx: CallContext, p: Any) -> Any:
        return answer(p)

    handler.__name__ = handler.__qualname__ = "startup_" + name.replace(".", "_")
    # Read scope, except under OpenClaw's admin prefixes (update.*), whose rule stands.
    scope = gw_scopes.ADMIN if name.startswith("update.") else gw_scopes.READ
    method(name, params=params, scope=scope, advertised=False)(handler)


_EMPTY_PLUGIN_REVISION = hashlib.sha256(b"[]").hexdigest()

_STARTUP_STUBS: dict[str, tuple[type[Params], Callable[[Any], Any]]] = {
    "question.list": (Params, lambda p: {"questions": []}),
    "plugin.approval.list": (Params, lambda p: []),
    "exec.approval.list": (Params, lambda p: []),
    "openclaw.approval.list": (Params, lambda p: []),
    "taskSuggestions.list": (Params, lambda p: {"suggestions": []}),
    "tasks.list": (Params, lambda p: {"tasks": []}),
    "models.authStatus": (
        Params,
        lambda p: {"ts": now_ms(), "providers": [], "providerCapabilities": []},
    ),
    # update.status: gateway.methods.settings_pages (advertised, the updates page needs it).
    "users.prefs.get": (Params, lambda p: {"status": "ok", "entries": {}}),
    "plugins.controlUi.list": (
        Params,
        lambda p: {"revision": _EMPTY_PLUGIN_REVISION, "plugins": [], "diagnostics": []},
    ),
    "plugin.surface.refresh": (
        SurfaceParams,
        lambda p: {"surface": p.surface, "pluginSurfaceUrls": {}, "expiresAtMs": None},
    ),
    "mentions.list": (
        Params,
        lambda p: {"gatewayInstanceId": INSTANCE_ID, "revision": 0, "items": []},
    ),
    "projects.list": (Params, lambda p: {"projects": [], "recents": []}),
    "talk.catalog": (
        Params,
        lambda p: {
            "modes": [],
            "transports": [],
            "brains": [],
            "speech": {"providers": []},
            "transcription": {"ready": False, "providers": []},
            "realtime": {"ready": False, "providers": []},
        },
    ),
    "board.get": (
        SessionKeyParams,
        lambda p: {"sessionKey": p.session_key, "revision": 0, "tabs": [], "widgets": []},
    ),
    "progressCard.get": (SessionKeyParams, lambda p: {"card": None}),
    "session.discussion.info": (SessionKeyParams, lambda p: {"state": "none"}),
    "controlUi.sessionPullRequests.subscribe": (
        SessionKeysParams,
        lambda p: {"subscribed": bool(p.session_keys)},
    ),
    # sessions.* names: only when sessions.py does not implement them.
    "sessions.catalog.list": (Params, lambda p: {"catalogs": []}),
    "sessions.groups.list": (Params, lambda p: {"groups": [], "sectionOrder": []}),
    "sessions.groups.defaults": (Params, lambda p: {"defaults": []}),
    "sessions.observer.visibility": (Params, lambda p: {"ok": True}),
    "sessions.viewers.set": (SessionKeysParams, lambda p: {"sessionKeys": p.session_keys}),
    "sessions.branches.list": (SessionKeyParams, lambda p: {"branches": []}),
    "sessions.companion.state": (SessionKeyParams, lambda p: {"exchanges": []}),
}

for _name, (_params, _answer) in _STARTUP_STUBS.items():
    _startup_stub(_name, _params, _answer)


@method("system.info", scope=gw_scopes.READ, advertised=False)
async def system_info(ctx: CallContext, params: Params) -> dict[str, Any]:
    return system_wire.system_info(include_host=_is_admin(ctx))
