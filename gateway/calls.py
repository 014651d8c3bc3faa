"""One request of a connected client: which method, may it be called, and its answer frames.

The connection keeps what is per connection (rate limit, requests in flight, the count
of unauthorized calls); this module decides per request.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from channels.db import database_sync_to_async
from pydantic import BaseModel, ValidationError

from core.audit import Actor, acting
from core.dbdown import CODE as DATABASE_UNAVAILABLE
from core.dbdown import DATABASE_DOWN, RETRY_AFTER_MS, database_down_message, log_database_down
from gateway import metrics
from gateway import scopes as gw_scopes
from gateway.frames import ErrorCode, error_shape, res_error, res_ok, validation_message
from gateway.methods import REGISTRY
from gateway.methods.registry import CallContext, Method, MethodError, TwoPhase

logger = logging.getLogger(__name__)

# Methods whose writes are the runtime's (a turn: its session, run and messages), not an
# operator's: they run as nobody, so they record nothing and pay nothing (core.audit).
TURN_METHODS = frozenset({"chat.send", "agent", "agent.wait", "send"})


class UnauthorizedCallError(MethodError):
    """A call this principal may not make (counted: too many close the connection)."""


def method_resolve(
    name: str, raw_params: dict[str, Any] | None, *, role: str, scopes: frozenset[str]
) -> tuple[Method, BaseModel]:
    """The method and its parsed params; raises ``MethodError`` (or ``UnauthorizedCallError``)."""
    method = REGISTRY.get(name)
    if method is None:
        raise MethodError(f"unknown method: {name}")
    if role not in method.roles:
        raise UnauthorizedCallError(f"unauthorized role: {role}")
    # Operator scopes gate operator methods; a node may call only its role's methods
    # (and health, which any authenticated connection may call).
    if role == "operator" and not gw_scopes.satisfies(scopes, method.scope):
        raise UnauthorizedCallError(
            f"missing scope: {method.scope}",
            code=ErrorCode.FORBIDDEN,
            details={
                "code": "MISSING_SCOPE",
                "missingScope": method.scope,
                "requiredScopes": [method.scope],
            },
        )
    try:
        params = method.params.model_validate(raw_params if raw_params is not None else {})
    except ValidationError as exc:
        raise MethodError(f"invalid {name} params: {validation_message(exc)}") from None
    return method, params


def call_actor(method: Method, ctx: CallContext) -> Actor | None:
    """Who an operator's call acts as, for the audit log; None for reads, turns and nodes."""
    if ctx.role != "operator" or method.scope == gw_scopes.READ or method.name in TURN_METHODS:
        return None
    return Actor(
        kind="rpc",
        name=ctx.auth_label or f"client:{ctx.client_id}",
        source=f"{method.name} from {ctx.client_id} ({ctx.client_mode})",
    )


def database_error_frame(request_id: str, method: str, exc: Exception) -> dict[str, Any]:
    """The answer to a request whose database call failed for want of the database
    (``core.dbdown``): retryable, as sent (a ``chat.send`` retried with the same
    ``idempotencyKey`` starts its run once)."""
    log_database_down(logger, method, exc)
    return res_error(
        request_id,
        error_shape(
            ErrorCode.UNAVAILABLE,
            database_down_message(method, exc),
            details={"code": DATABASE_UNAVAILABLE},
            retryable=True,
            retry_after_ms=RETRY_AFTER_MS,
        ),
    )


def error_frame(request_id: str, exc: MethodError) -> dict[str, Any]:
    return res_error(
        request_id,
        error_shape(
            exc.code,
            exc.message,
            details=exc.details,
            retryable=exc.retryable,
            retry_after_ms=exc.retry_after_ms,
        ),
    )


async def answer_frames(
    request_id: str, method: Method, ctx: CallContext, params: BaseModel
) -> AsyncIterator[dict[str, Any]]:
    """Run the handler and yield its ``res`` frames: one, or two for a ``TwoPhase``.

    A sync handler makes its one database hop on the database thread; an async one runs
    on the event loop. Cancellation (client cancel, disconnect) propagates to the caller.
    """
    actor = call_actor(method, ctx)
    timer = metrics.RpcTimer(method.name)
    try:
        # The actor follows the handler into the database thread (a context variable).
        with acting(actor) if actor is not None else contextlib.nullcontext():
            if method.is_async:
                result = await method.handler(ctx, params)
            else:
                result = await database_sync_to_async(method.handler)(ctx, params)
        timer.done(metrics.OK)
        if isinstance(result, TwoPhase):
            yield res_ok(request_id, result.first)
            ok, payload, error = await result.final
            yield res_ok(request_id, payload) if ok else res_error(request_id, error or {}, payload)
        else:
            yield res_ok(request_id, result)
    except MethodError as exc:
        timer.done(metrics.ERROR)
        yield error_frame(request_id, exc)
    except DATABASE_DOWN as exc:
        timer.done(metrics.ERROR)
        yield database_error_frame(request_id, method.name, exc)
    except Exception:
        timer.done(metrics.ERROR)
        logger.exception("method %s failed", method.name)
        yield res_error(
            request_id,
            error_shape(ErrorCode.UNAVAILABLE, f"{method.name} failed; see the gateway log"),
        )
