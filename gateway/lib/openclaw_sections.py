"""The sections of an OpenClaw config besides the agents: channels, session, gateway,
hooks, cron and bindings (``gateway.lib.openclaw_normalize`` calls these).

A channel's own keys (``channels.telegram.dmPolicy``) are its ``default`` account when
it has no ``accounts`` or has a ``botToken`` of its own, and otherwise what every
account inherits (OpenClaw's account merge); secrets are not inherited.

Framework-free: no Django import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.lib.hooks import KEYS as HOOK_KEYS
from gateway.lib.openclaw_desired import (
    ACCOUNT_KEYS,
    DEFAULT_ACCOUNT,
    HTTP_ENDPOINT_KEYS,
    HTTP_ENDPOINTS,
    LISTEN_KEYS,
    SECRET_KEYS,
    SESSION_KEYS,
    AccountSpec,
    Desired,
    as_object,
    skip_rest,
)


# --- channels -------------------------------------------------------------------------
def _account(
    out: Desired, kind: str, account_id: str, merged: Mapping[str, Any], where: str
) -> None:
    values = {key: merged[key] for key in ACCOUNT_KEYS if merged.get(key) is not None}
    out.accounts[(kind, account_id)] = AccountSpec(kind, account_id, where, values)


def _channel(out: Desired, kind: str, block: Any) -> None:
    where = f"channels.{kind}"
    body = as_object(block, where, "{botToken: '123:AA…', dmPolicy: 'pairing'}")
    accounts = as_object(body.get("accounts"), f"{where}.accounts", "{work: {botToken: '…'}}")
    own = {k: v for k, v in body.items() if k not in ("accounts", "defaultAccount")}
    if body.get("defaultAccount") not in (None, DEFAULT_ACCOUNT):
        out.skip(f"{where}.defaultAccount", "the default account here is the one called default")
    skip_rest(out, own, where, ACCOUNT_KEYS, "no channel setting of that name here")
    inherited = {k: v for k, v in own.items() if k not in SECRET_KEYS}
    if (
        own
        and (not accounts or own.get("botToken") is not None)
        and DEFAULT_ACCOUNT not in accounts
    ):
        _account(out, kind, DEFAULT_ACCOUNT, own, where)
    for raw_id, account in accounts.items():
        account_where = f"{where}.accounts.{raw_id}"
        body_of = as_object(account, account_where, "{botToken: '…', dmPolicy: 'allowlist'}")
        skip_rest(out, body_of, account_where, ACCOUNT_KEYS, "no account setting of that name here")
        base = own if str(raw_id) == DEFAULT_ACCOUNT else inherited
        _account(out, kind, str(raw_id).strip().lower(), {**base, **body_of}, account_where)


def channels(out: Desired, block: Any, kinds: tuple[str, ...]) -> None:
    for kind, body in as_object(block, "channels", "{telegram: {botToken: '…'}}").items():
        if str(kind).lower() in kinds:
            _channel(out, str(kind).lower(), body)
        else:
            out.skip(
                f"channels.{kind}", f"no connector for {kind} (connectors: {', '.join(kinds)})"
            )


# --- session, gateway, hooks, cron ---------------------------------------------------
def _session(out: Desired, block: Any) -> None:
    session = as_object(block, "session", "{dmScope: 'per-channel-peer'}")
    out.session = {k: session[k] for k in SESSION_KEYS if session.get(k) is not None}
    if "reset" not in out.session and isinstance(session.get("idleMinutes"), int):
        out.session["reset"] = {"mode": "idle", "idleMinutes": session["idleMinutes"]}
    for key in ("mainKey", "scope"):
        if session.get(key) is not None:
            out.fixed[f"session.{key}"] = session[key]
    used = (*SESSION_KEYS, "mainKey", "scope", "idleMinutes")
    skip_rest(out, session, "session", used, "no session setting of that name here")


def _http(out: Desired, block: Any) -> None:
    http = as_object(block, "gateway.http", "{endpoints: {chatCompletions: {enabled: true}}}")
    endpoints = as_object(http.get("endpoints"), "gateway.http.endpoints", "{responses: {}}")
    kept: dict[str, Any] = {}
    for name, endpoint in endpoints.items():
        where = f"gateway.http.endpoints.{name}"
        if name not in HTTP_ENDPOINTS:
            out.skip(where, f"this gateway serves {' and '.join(HTTP_ENDPOINTS)}")
            continue
        body = as_object(endpoint, where, "{enabled: true}")
        entry = {k: body[k] for k in HTTP_ENDPOINT_KEYS if body.get(k) is not None}
        if entry:
            kept[name] = entry
        skip_rest(out, body, where, HTTP_ENDPOINT_KEYS, "not kept")
    skip_rest(out, http, "gateway.http", ("endpoints",), "not kept")
    out.http = {"endpoints": kept} if kept else {}


def _gateway(out: Desired, block: Any) -> None:
    gateway = as_object(block, "gateway", "{trustedProxies: ['127.0.0.1']}")
    if gateway.get("trustedProxies") is not None:
        out.gateway["trustedProxies"] = gateway["trustedProxies"]
    ui = as_object(gateway.get("controlUi"), "gateway.controlUi", "{allowedOrigins: []}")
    for key, name in (
        ("allowedOrigins", "allowedOrigins"),
        ("dangerouslyAllowHostHeaderOriginFallback", "hostFallback"),
    ):
        if ui.get(key) is not None:
            out.gateway[name] = ui[key]
    skip_rest(
        out,
        ui,
        "gateway.controlUi",
        ("allowedOrigins", "dangerouslyAllowHostHeaderOriginFallback"),
        "not kept (the Control UI's files come from OPENCLAW_CONTROL_UI_DIR)",
    )
    for key in LISTEN_KEYS:
        if gateway.get(key) is not None:
            out.listen[f"gateway.{key}"] = gateway[key]
    if gateway.get("mode") is not None:
        out.fixed["gateway.mode"] = gateway["mode"]
    auth = as_object(gateway.get("auth"), "gateway.auth", "{mode: 'token'}")
    for key in ("mode", "token", "password"):
        if auth.get(key) is not None:
            out.fixed[f"gateway.auth.{key}"] = auth[key]
    skip_rest(out, auth, "gateway.auth", ("mode", "token", "password"), "set in the environment")
    if "http" in gateway:
        _http(out, gateway["http"])
    if "tools" in gateway:
        tools = as_object(gateway["tools"], "gateway.tools", "{deny: ['exec']}")
        out.tools = {k: tools[k] for k in ("allow", "deny") if tools.get(k) is not None}
        skip_rest(out, tools, "gateway.tools", ("allow", "deny"), "not kept")
    used = ("trustedProxies", "controlUi", *LISTEN_KEYS, "mode", "auth", "http", "tools")
    skip_rest(out, gateway, "gateway", used, "not kept")


def _hooks(out: Desired, block: Any) -> None:
    hooks = as_object(block, "hooks", "{enabled: true, token: '…'}")
    out.hooks = {k: v for k, v in hooks.items() if k in HOOK_KEYS and v is not None}
    skip_rest(out, hooks, "hooks", HOOK_KEYS, "this webhook setting is not kept here")


def _cron(out: Desired, block: Any) -> None:
    cron = as_object(block, "cron", "{enabled: true}")
    if cron.get("enabled") is False:
        out.skip("cron.enabled", "cron cannot be switched off as a whole here; disable each job")
    if isinstance(cron.get("store"), str):
        out.cron_store = cron["store"]
    skip_rest(out, cron, "cron", ("enabled", "store"), "not kept")


SECTIONS: dict[str, Callable[[Desired, Any], None]] = {
    "session": _session,
    "gateway": _gateway,
    "hooks": _hooks,
    "cron": _cron,
}


def bindings_kept(out: Desired, bindings: list[Any]) -> list[Any]:
    kept: list[Any] = []
    for index, binding in enumerate(bindings):
        where = f"bindings[{index}]"
        if isinstance(binding, Mapping) and binding.get("type") == "acp":
            out.skip(where, "ACP bindings are not kept")
            continue
        if not isinstance(binding, Mapping):
            kept.append(binding)  # the bindings service says what is wrong with it
            continue
        for key in ("session", "acp"):
            if binding.get(key) is not None:
                out.skip(f"{where}.{key}", "not kept")
        kept.append({k: v for k, v in binding.items() if k not in ("session", "acp")})
    return kept
