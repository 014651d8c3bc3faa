"""The connect handshake's checks that need the database: credentials and devices.

One call per connect (``gateway_connect_authenticate``), run from the consumer through
``database_sync_to_async``. Failures raise ``ConnectError`` carrying the error the
client gets; the message never says which part of the credentials was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.selectors import default_agent_slug
from core import dbdown
from gateway import authcache
from gateway import scopes as gw_scopes
from gateway.catalog.devices import device_pair_requested
from gateway.frames import ConnectParams, ErrorCode
from gateway.lib.device_auth import DeviceAuthError, VerifiedDevice, verify_device
from gateway.lib.protocol import CLOSE_POLICY, CLOSE_TRY_AGAIN
from gateway.lib.tokens import token_hash
from gateway.models import GatewayToken
from pairing.models import Device
from pairing.selectors import device_by_device_id_for_update
from pairing.services import (
    DeviceClaim,
    device_pair_silently,
    device_pairing_request_open,
    device_record_connect,
    device_token_store,
)

LAST_USED_RESOLUTION = timedelta(minutes=1)
DEVICE_PENDING_TTL = timedelta(minutes=5)
BROWSER_CLIENT_IDS = frozenset({"openclaw-control-ui", "webchat-ui", "webchat"})


class ConnectError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        close_code: int = CLOSE_POLICY,
        counts_as_auth_failure: bool = False,
        event: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.close_code = close_code
        self.counts_as_auth_failure = counts_as_auth_failure
        # An event to broadcast after the rejection (a new device pairing request).
        self.event = event


@dataclass(frozen=True)
class Principal:
    role: str
    scopes: frozenset[str]
    auth_method: str
    device_id: str | None = None
    device_token: str | None = None
    default_agent_id: str = "main"
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    label: str = ""  # who, for the audit log: token name and id, or device; never a secret


def _unauthorized() -> ConnectError:
    return ConnectError(
        ErrorCode.INVALID_REQUEST,
        "unauthorized: the gateway credentials were not accepted",
        details={"code": "AUTH_UNAUTHORIZED"},
        counts_as_auth_failure=True,
    )


def _shared_secret_scopes(params: ConnectParams) -> tuple[frozenset[str], str, str] | None:
    """Return (allowed scopes, method, label) when the token or password matches, else None."""
    auth = params.auth
    if auth is None:
        return None
    if settings.GATEWAY_AUTH_MODE == "password":
        if auth.password and hmac.compare_digest(
            hashlib.sha256(auth.password.encode()).digest(),
            hashlib.sha256(settings.GATEWAY_PASSWORD.encode()).digest(),
        ):
            return frozenset(gw_scopes.ALL_SCOPES), "password", "password"
        return None
    if not auth.token:
        return None
    hashed = token_hash(auth.token)
    row = (
        GatewayToken.objects.active()
        .filter(token_hash=hashed)
        .values_list("pk", "name", "scopes", "last_used_at")
        .first()
    )
    if row is None:
        return None
    pk, name, scopes, last_used_at = row
    label = f"token:{name}#{pk}"
    now = timezone.now()
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        GatewayToken.objects.filter(pk=pk).update(last_used_at=now)
    authcache.remember_token(hashed, frozenset(scopes), label)
    return frozenset(scopes), "token", label


def gateway_connect_cached(*, params: ConnectParams) -> Principal | None:
    """Authenticate a plain operator token connect from the in-process cache, or None.

    No database call: safe on the event loop. None means "take the full path" (a cache
    miss, a device identity, password mode, or a token this cache does not know).
    """
    auth = params.auth
    if (
        params.device is not None
        or params.role != "operator"
        or settings.GATEWAY_AUTH_MODE != "token"
        or auth is None
        or not auth.token
    ):
        return None
    cached = authcache.token_entry(token_hash(auth.token))
    default_agent = authcache.default_agent()
    if cached is None or default_agent is None:
        return None
    allowed, label = cached
    granted = _granted(params, allowed)
    return Principal(params.role, granted, "token", default_agent_id=default_agent, label=label)


def _granted(params: ConnectParams, allowed: frozenset[str]) -> frozenset[str]:
    # A probe only checks that the gateway answers: OpenClaw grants it no scopes.
    if params.client.mode == "probe":
        return frozenset()
    return gw_scopes.grant(list(params.scopes or []), allowed)


def _issue_device_token(device: Device) -> str:
    token = secrets.token_urlsafe(32)
    device_token_store(device_pk=device.pk, token_hash=token_hash(token))
    return token


def _database_down(exc: BaseException) -> ConnectError:
    return ConnectError(
        ErrorCode.UNAVAILABLE,
        dbdown.database_down_message("connect", exc),
        details={"code": dbdown.CODE, "retryAfterMs": dbdown.RETRY_AFTER_MS},
        close_code=CLOSE_TRY_AGAIN,
    )


@dbdown.raising("connect", _database_down)
def gateway_connect_authenticate(
    *,
    params: ConnectParams,
    nonce: str,
    is_local: bool,
    browser_origin: bool,
    remote_ip: str | None,
    now_ms: int,
) -> Principal:
    """Authenticate a connect request and return who the client is.

    Shared secret (token or password) first, then the device identity: a verified
    device from loopback is paired silently; from elsewhere it waits as a pending
    ``Device`` until approved (admin or ``device.pair.approve``). A paired device gets
    a fresh device token, which also authenticates it on later connects. Raises
    ``ConnectError``; a pending pairing request it records is committed all the same,
    and while the database is down the client is told so and to retry (close 1013).
    """
    authenticate = partial(
        _authenticate_or_raise,
        params=params,
        nonce=nonce,
        is_local=is_local,
        browser_origin=browser_origin,
        remote_ip=remote_ip,
        now_ms=now_ms,
    )
    if params.device is None:
        # Reads and at most one UPDATE: no transaction, so no SQLite write lock taken
        # up front (IMMEDIATE mode) on the hot path of every CLI command.
        return authenticate()
    outcome = _in_transaction_keeping_pairing(authenticate)
    if isinstance(outcome, ConnectError):
        raise outcome
    return outcome


@transaction.atomic
def _in_transaction_keeping_pairing(
    authenticate: Callable[[], Principal],
) -> Principal | ConnectError:
    """Run a device connect in one transaction; a recorded pairing request survives."""
    try:
        return authenticate()
    except ConnectError as exc:
        if exc.event is None:
            raise  # nothing to keep: roll back
        return exc  # a pairing request was recorded: commit it, then reject


def _authenticate_or_raise(
    *,
    params: ConnectParams,
    nonce: str,
    is_local: bool,
    browser_origin: bool,
    remote_ip: str | None,
    now_ms: int,
) -> Principal:
    role = params.role
    if role not in ("operator", "node"):
        raise ConnectError(ErrorCode.INVALID_REQUEST, "invalid role")
    shared = _shared_secret_scopes(params)
    requested = list(params.scopes or [])

    if params.device is None:
        if role == "node":
            raise ConnectError(
                ErrorCode.NOT_PAIRED,
                "device identity required",
                details={"code": "DEVICE_IDENTITY_REQUIRED"},
            )
        if shared is None:
            raise _unauthorized()
        allowed, method, label = shared
        granted = _granted(params, allowed)
        return Principal(role, granted, method, default_agent_id=_default_agent(), label=label)

    device_params = params.device
    auth = params.auth
    # OpenClaw signs `auth.token ?? auth.deviceToken ?? ""` (null-coalescing, not falsy).
    presented = ""
    if auth is not None:
        presented = (
            auth.token
            if auth.token is not None
            else auth.deviceToken
            if auth.deviceToken is not None
            else ""
        )
    try:
        verified = verify_device(
            device_id=device_params.id,
            public_key=device_params.publicKey,
            signature=device_params.signature,
            signed_at_ms=device_params.signedAt,
            nonce=device_params.nonce,
            expected_nonce=nonce,
            client_id=params.client.id,
            client_mode=params.client.mode,
            role=role,
            scopes=requested,
            token=presented,
            platform=params.client.platform,
            device_family=params.client.deviceFamily,
            now_ms=now_ms,
        )
    except DeviceAuthError as exc:
        raise ConnectError(
            ErrorCode.INVALID_REQUEST,
            "device authentication failed",
            details={"code": exc.code, "reason": exc.reason},
            counts_as_auth_failure=True,
        ) from None

    device = device_by_device_id_for_update(verified.device_id)
    if shared is None:
        # Device-token auth: the token this device was issued on an earlier connect.
        device_token = (auth.deviceToken or auth.token) if auth else None
        if (
            device is None
            or device.status != Device.Status.PAIRED
            or not device_token
            or not device.token_hash
            or not hmac.compare_digest(token_hash(device_token), device.token_hash)
        ):
            raise _unauthorized()
        shared = frozenset(device.scopes), "device-token", ""
    allowed_scopes, method, secret_label = shared
    wanted = sorted(gw_scopes.grant(requested, allowed_scopes))
    silent_ok = is_local and (not browser_origin or params.client.id in BROWSER_CLIENT_IDS)
    device = _device_pair(
        device=device,
        verified=verified,
        params=params,
        role=role,
        wanted=wanted,
        remote_ip=remote_ip,
        silent_ok=silent_ok,
    )
    issued = _issue_device_token(device)
    who = f"device:{verified.device_id}" + (f" via {secret_label}" if secret_label else "")
    agent = _default_agent()
    return Principal(role, frozenset(wanted), method, verified.device_id, issued, agent, label=who)


def _default_agent() -> str:
    cached = authcache.default_agent()
    if cached is None:
        cached = default_agent_slug()
        authcache.remember_default_agent(cached)
    return cached


def _device_pair(
    *,
    device: Device | None,
    verified: VerifiedDevice,
    params: ConnectParams,
    role: str,
    wanted: list[str],
    remote_ip: str | None,
    silent_ok: bool,
) -> Device:
    """Return the paired device, pairing it silently when allowed, else raise NOT_PAIRED."""
    reason = None
    if device is None:
        reason = "not-paired"
    elif device.status in (Device.Status.REJECTED, Device.Status.REVOKED):
        raise ConnectError(
            ErrorCode.NOT_PAIRED,
            "device pairing was rejected or revoked; approve it again from the admin",
            details={"code": "PAIRING_REQUIRED", "reason": "not-paired"},
        )
    elif device.status == Device.Status.PENDING:
        reason = "not-paired"
    elif device.role != role:
        reason = "role-upgrade"
    elif not set(wanted) <= set(device.scopes):
        reason = "scope-upgrade"

    if reason is None:
        assert device is not None
        return device
    device = device_record_connect(
        device=device, claim=_claim(verified, params, role, remote_ip), scopes=wanted
    )
    if silent_ok and reason in ("not-paired", "scope-upgrade"):
        return device_pair_silently(device=device)
    # An upgrade of a paired device waits for approval too: the device is pending (with
    # the scopes and role it asked for) until an operator approves, failing closed.
    device = device_pairing_request_open(device=device, pending_ttl=DEVICE_PENDING_TTL)
    raise ConnectError(
        ErrorCode.NOT_PAIRED,
        "pairing required",
        details={"code": "PAIRING_REQUIRED", "requestId": str(device.request_id), "reason": reason},
        event=device_pair_requested(device),
    )


def _clean(value: str | None, limit: int) -> str:
    """Client text fit for storage: lone surrogates (valid JSON, not UTF-8) become U+FFFD."""
    text = (value or "")[:limit]
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _claim(
    verified: VerifiedDevice, params: ConnectParams, role: str, remote_ip: str | None
) -> DeviceClaim:
    return DeviceClaim(
        device_id=verified.device_id,
        public_key=verified.public_key,
        display_name=_clean(params.client.displayName, 200),
        platform=_clean(params.client.platform, 64),
        device_family=_clean(params.client.deviceFamily, 64),
        client_id=params.client.id,
        client_mode=params.client.mode,
        role=role,
        remote_ip=remote_ip,
    )
