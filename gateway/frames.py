"""Frames of the OpenClaw gateway protocol, validated with pydantic.

Shapes follow OpenClaw's TypeBox schemas (additionalProperties: false on the envelope).
``parse_frame`` never raises for client input: it returns a parsed frame or a
``FrameError`` saying what is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.lib.protocol import CLIENT_IDS, CLIENT_MODES


class ErrorCode:
    NOT_LINKED = "NOT_LINKED"
    NOT_PAIRED = "NOT_PAIRED"
    AGENT_TIMEOUT = "AGENT_TIMEOUT"
    INVALID_REQUEST = "INVALID_REQUEST"
    UNAVAILABLE = "UNAVAILABLE"
    # OpenClaw 2026.9.6 answers a missing scope with FORBIDDEN (captured frames).
    FORBIDDEN = "FORBIDDEN"


def error_shape(
    code: str,
    message: str,
    *,
    details: Any = None,
    retryable: bool | None = None,
    retry_after_ms: int | None = None,
) -> dict[str, Any]:
    shape: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        shape["details"] = details
    if retryable is not None:
        shape["retryable"] = retryable
    if retry_after_ms is not None:
        shape["retryAfterMs"] = retry_after_ms
    return shape


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestFrame(_Strict):
    type: Literal["req"]
    id: str = Field(min_length=1, max_length=256)
    method: str = Field(min_length=1, max_length=200)
    params: Any = None


class CancelFrame(_Strict):
    type: Literal["cancel"]
    id: str = Field(min_length=1, max_length=256)


class ClientInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    displayName: str | None = None  # noqa: N815  (wire names)
    version: str = ""
    platform: str = ""
    deviceFamily: str | None = None  # noqa: N815
    modelIdentifier: str | None = None  # noqa: N815
    mode: str
    instanceId: str | None = None  # noqa: N815

    @field_validator("id")
    @classmethod
    def _known_id(cls, value: str) -> str:
        if value not in CLIENT_IDS:
            raise ValueError(f"unknown client id {value!r}")
        return value

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in CLIENT_MODES:
            raise ValueError(f"unknown client mode {value!r}")
        return value


class DeviceIdentity(BaseModel):
    id: str = Field(min_length=1, max_length=128)
    publicKey: str = Field(min_length=1, max_length=4096)  # noqa: N815
    signature: str = Field(min_length=1, max_length=1024)
    signedAt: int  # noqa: N815
    nonce: str = Field(min_length=1, max_length=256)


class ConnectAuth(BaseModel):
    model_config = ConfigDict(extra="allow")

    token: str | None = Field(default=None, max_length=4096)
    deviceToken: str | None = Field(default=None, max_length=4096)  # noqa: N815
    password: str | None = Field(default=None, max_length=4096)


class ConnectParams(BaseModel):
    model_config = ConfigDict(extra="allow")

    minProtocol: int = Field(ge=1)  # noqa: N815
    maxProtocol: int = Field(ge=1)  # noqa: N815
    client: ClientInfo
    caps: list[str] = Field(default_factory=list)
    commands: list[str] | None = None
    permissions: dict[str, bool] | None = None
    pathEnv: str | None = None  # noqa: N815
    role: str = "operator"
    scopes: list[str] | None = None
    device: DeviceIdentity | None = None
    auth: ConnectAuth | None = None
    locale: str | None = None
    userAgent: str | None = None  # noqa: N815


@dataclass(frozen=True)
class FrameError:
    """Client input that is not a frame we accept; ``request_id`` when one was readable."""

    message: str
    request_id: str = "invalid"


ParsedFrame = RequestFrame | CancelFrame | None  # None: a well-formed frame type we ignore


def _first_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "frame"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def validation_message(exc: ValidationError) -> str:
    return _first_error(exc)


_SURROGATE_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)


def _has_lone_surrogate(text: str) -> bool:
    """True if a \\uD800-\\uDFFF escape is not part of a high+low pair."""
    return any(len(match.group()) == 6 for match in _SURROGATE_ESCAPE.finditer(text))


def parse_frame(text: str) -> ParsedFrame | FrameError:  # noqa: PLR0911
    """Parse one text frame. Unknown frame types parse to None (ignored, as v4 says)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return FrameError("invalid request frame: not JSON; send one JSON object per text frame")
    if not isinstance(data, dict):
        return FrameError("invalid request frame: expected a JSON object")
    raw_id = data.get("id")
    request_id = raw_id if isinstance(raw_id, str) and raw_id else "invalid"
    if "\\u" in text and _has_lone_surrogate(text):
        return FrameError(
            "invalid request frame: a string holds a lone UTF-16 surrogate escape; "
            "send valid Unicode text",
            "invalid" if _has_lone_surrogate(json.dumps(request_id)) else request_id[:256],
        )
    kind = data.get("type")
    try:
        if kind == "req":
            return RequestFrame.model_validate(data)
        if kind == "cancel":
            return CancelFrame.model_validate(data)
    except ValidationError as exc:
        return FrameError(f"invalid request frame: {_first_error(exc)}", request_id[:256])
    if not isinstance(kind, str):
        return FrameError("invalid request frame: missing type", request_id[:256])
    return None


def res_ok(request_id: str, payload: Any) -> dict[str, Any]:
    return {"type": "res", "id": request_id, "ok": True, "payload": payload}


def res_error(request_id: str, error: dict[str, Any], payload: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "res", "id": request_id, "ok": False, "error": error}
    if payload is not None:
        frame["payload"] = payload
    return frame


def event_frame(
    event: str, payload: Any, *, seq: int | None = None, state_version: dict[str, int] | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "event", "event": event, "payload": payload}
    if seq is not None:
        frame["seq"] = seq
    if state_version is not None:
        frame["stateVersion"] = state_version
    return frame
