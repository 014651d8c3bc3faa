"""The ``connect`` handshake's pure parts: what is refused before any credential is
looked at, and what the gateway answers (``hello-ok``) and announces (``presence``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from pydantic import ValidationError

from core.clock import now_ms
from gateway import origins, state
from gateway.connect import ConnectError, Principal
from gateway.frames import ConnectParams, ErrorCode, validation_message
from gateway.lib.protocol import (
    CLOSE_PROTOCOL_ERROR,
    MAX_PAYLOAD_BYTES,
    PROTOCOL_VERSION,
    negotiate,
)
from gateway.methods import EVENTS, advertised_methods

SERVER_VERSION = "openclaw-django 0.1.0"


def connect_check(
    raw_params: dict[str, Any] | None, *, origin: str | None, host: str, is_local: bool
) -> tuple[ConnectParams, int]:
    """Parse ``connect`` params, negotiate the protocol and check the browser origin.

    Returns the params and the protocol; raises ``ConnectError`` with the answer to give.
    The origin is checked (``gateway.origins``) when the socket carried an ``Origin``, as
    OpenClaw does; ``origins.policy_ready(origin)`` must have been awaited before.
    """
    try:
        params = ConnectParams.model_validate(raw_params or {})
    except ValidationError as exc:
        raise ConnectError(
            ErrorCode.INVALID_REQUEST, f"invalid connect params: {validation_message(exc)}"
        ) from None
    protocol = negotiate(
        min_protocol=params.minProtocol,
        max_protocol=params.maxProtocol,
        role=params.role,
        mode=params.client.mode,
    )
    if protocol is None:
        raise ConnectError(
            ErrorCode.INVALID_REQUEST,
            "protocol mismatch",
            details={"expectedProtocol": PROTOCOL_VERSION},
            close_code=CLOSE_PROTOCOL_ERROR,
        )
    if origin is not None:
        check = origins.check_browser_origin(
            origin, request_host=host, policy=origins.cached_policy(), is_local_client=is_local
        )
        if not check.ok:
            raise ConnectError(
                ErrorCode.INVALID_REQUEST,
                origins.REFUSAL,
                details={"code": origins.REFUSAL_CODE, "reason": check.reason},
            )
    return params, protocol


def hello_payload(*, conn_id: str, protocol: int, principal: Principal) -> dict[str, Any]:
    """The ``hello-ok`` answer to ``connect``."""
    auth: dict[str, Any] = {"role": principal.role, "scopes": sorted(principal.scopes)}
    if principal.device_token:
        auth["deviceToken"] = principal.device_token
        auth["issuedAtMs"] = now_ms()
    default_agent = principal.default_agent_id
    return {
        "type": "hello-ok",
        "protocol": protocol,
        "server": {"version": SERVER_VERSION, "connId": conn_id},
        "features": {"methods": advertised_methods(), "events": sorted(EVENTS)},
        "snapshot": {
            "presence": state.presence_list(),
            "health": state.health_for(state.health_cached() or {}, principal.scopes),
            "stateVersion": dict(state.state_version),
            "uptimeMs": state.uptime_ms(),
            "sessionDefaults": {
                "defaultAgentId": default_agent,
                "mainKey": "main",
                "mainSessionKey": f"agent:{default_agent}:main",
                "scope": "per-sender",
            },
            "authMode": settings.GATEWAY_AUTH_MODE,
        },
        "auth": auth,
        "policy": {
            "maxPayload": MAX_PAYLOAD_BYTES,
            "maxBufferedBytes": settings.GATEWAY_MAX_BUFFERED_BYTES,
            "tickIntervalMs": settings.GATEWAY_TICK_INTERVAL_MS,
        },
    }


def presence_entry(
    params: ConnectParams, principal: Principal, *, remote_ip: str | None
) -> dict[str, Any]:
    """This connection's row in ``presence`` (operators other than the CLI)."""
    entry: dict[str, Any] = {
        "host": params.client.displayName or params.client.id,
        "ip": remote_ip,
        "version": params.client.version,
        "platform": params.client.platform,
        "deviceFamily": params.client.deviceFamily,
        "mode": params.client.mode,
        "reason": "connect",
        "ts": now_ms(),
        "deviceId": principal.device_id,
        "roles": [principal.role],
        "scopes": sorted(principal.scopes),
        "instanceId": params.client.instanceId,
    }
    return {k: v for k, v in entry.items() if v is not None}


def presence_message() -> dict[str, Any]:
    """The ``presence`` event as the bus carries it, for this process's connections."""
    return {
        "event": "presence",
        "payload": {"presence": state.presence_list()},
        "scope": None,
        "dropIfSlow": True,
        "sessionKey": None,
    }
