"""Who may call the HTTP APIs: a gateway token (``/v1/*``, ``/tools/invoke``) or the
webhook token (``hooks``), and the failed-auth rate limits.

A gateway token is checked as a WebSocket ``connect`` checks it: its hash against the
active ``GatewayToken`` rows (the password in password mode), through the in-process
cache of ``gateway.authcache``, so a known token costs no database call. Failures count
in the same per-address limiter as socket connects (``gateway.ratelimit``). The webhook
token has its own limiter with OpenClaw's limits for hooks (20 failures a minute, then a
minute's lockout, loopback included). Tokens are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from gateway import authcache
from gateway import scopes as gw_scopes
from gateway.http.common import Client, bearer_token, db
from gateway.lib.tokens import token_hash
from gateway.models import GatewayToken
from gateway.ratelimit import AuthRateLimiter, auth_rate_limiter

logger = logging.getLogger(__name__)

HOOK_FAILURES = 20
HOOK_WINDOW_S = 60.0
hook_rate_limiter = AuthRateLimiter(
    attempts=HOOK_FAILURES,
    window_s=HOOK_WINDOW_S,
    lockout_s=HOOK_WINDOW_S,
    exempt_loopback=False,
)


@dataclass(frozen=True)
class Caller:
    """An authenticated API caller: its scopes and an audit label (never the secret)."""

    scopes: frozenset[str]
    label: str

    def allows(self, scope: str) -> bool:
        return gw_scopes.satisfies(self.scopes, scope)


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: 401, or 429 with ``retry_after_s``."""

    status: int
    retry_after_s: int = 0


def retry_after_s(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def _token_lookup(hashed: str) -> tuple[frozenset[str], str] | None:
    """The active token with this hash: its scopes and label (one query), cached."""
    row = (
        GatewayToken.objects.active()
        .filter(token_hash=hashed)
        .values_list("pk", "name", "scopes")
        .first()
    )
    if row is None:
        return None
    pk, name, scopes = row
    entry = (frozenset(scopes), f"token:{name}#{pk}")
    authcache.remember_token(hashed, *entry)
    return entry


async def gateway_caller(request: HttpRequest, client: Client) -> Caller | Refusal:
    """Authenticate ``Authorization: Bearer <gateway token or password>``."""
    locked_ms = auth_rate_limiter.retry_after_ms(client.ip, is_local=client.is_local)
    if locked_ms:
        return Refusal(429, retry_after_s(locked_ms))
    token = bearer_token(request)
    caller: Caller | None = None
    if token and settings.GATEWAY_AUTH_MODE == "password":
        if _same_secret(token, settings.GATEWAY_PASSWORD):
            caller = Caller(frozenset(gw_scopes.ALL_SCOPES), "password")
    elif token:
        hashed = token_hash(token)
        entry = authcache.token_entry(hashed)
        if entry is None:
            entry = await db(_token_lookup, hashed)
        if entry is not None:
            caller = Caller(*entry)
    if caller is None:
        auth_rate_limiter.record_failure(client.ip, is_local=client.is_local)
        logger.info("HTTP API auth failed from %s", client.ip)
        return Refusal(401)
    return caller


def hook_token(request: HttpRequest) -> str | None:
    """The webhook token: ``Authorization: Bearer`` first, else ``x-openclaw-token``."""
    return bearer_token(request) or request.headers.get("x-openclaw-token", "").strip() or None


def hook_authenticate(request: HttpRequest, client: Client, expected: str) -> Refusal | None:
    """Check the webhook token; None when it matches (and the client's failures are
    forgiven), else the refusal: 401, or 429 while the client is locked out (checked
    first, so a locked-out client learns nothing of its guesses)."""
    locked_ms = hook_rate_limiter.retry_after_ms(client.ip, is_local=client.is_local)
    if locked_ms:
        logger.warning("webhook auth throttled for %s", client.ip)
        return Refusal(429, retry_after_s(locked_ms))
    token = hook_token(request)
    if token is not None and _same_secret(token, expected):
        hook_rate_limiter.forgive(client.ip)
        return None
    hook_rate_limiter.record_failure(client.ip, is_local=client.is_local)
    return Refusal(401)
