"""One table of gateway methods: name → handler, required scope, params model.

Handlers are thin: they parse nothing themselves (the params model did), call one
service or selector, and shape the payload. A sync handler runs in one
``database_sync_to_async`` call; an ``async`` handler runs on the event loop and must
not touch the ORM directly.

A sync handler runs on the process's one shared database thread, so every socket of
the process waits for it: it must be quick. Slow work (a model call, the run loop) goes
to a worker; the handler is then async and awaits the worker's reply
(``Connection.watch_reply``, as ``sessions.compact`` does) or answers twice
(``TwoPhase``, as ``agent`` does). ``gateway/tests/test_registry_slow_work.py`` fails
for a sync handler that can reach a provider, the run loop or a compaction.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from gateway import scopes as gw_scopes
from gateway.frames import ErrorCode


class Params(BaseModel):
    """Base of method params: unknown fields are accepted (newer clients send more)."""

    model_config = ConfigDict(extra="allow")


class WireParams(Params):
    """Params with camelCase wire names for snake_case fields."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class NoParams(Params):
    pass


class MethodError(Exception):
    """A handler's well-formed error answer."""

    def __init__(
        self,
        message: str,
        *,
        code: str = ErrorCode.INVALID_REQUEST,
        details: Any = None,
        retryable: bool | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms


class Connection(Protocol):
    """What an async handler may ask of the connection that called it."""

    conn_id: str

    def subscribe_sessions(self, keys: list[str] | None) -> None: ...

    def unsubscribe_sessions(self, keys: list[str] | None) -> None: ...

    def subscribe_messages(self, key: str, on: bool) -> None: ...

    def join_tool_events(self, key: str) -> None: ...

    def watch_run(self, run_id: str) -> asyncio.Future[dict[str, Any]]: ...

    def watch_reply(self, request_id: str) -> asyncio.Future[dict[str, Any]]: ...

    async def wait_run(self, run_id: str, timeout_s: float) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class CallContext:
    conn_id: str
    role: str
    scopes: frozenset[str]
    client_id: str
    client_mode: str
    device_id: str | None
    caps: frozenset[str]
    connection: Connection | None = None
    # Who is calling, for the audit log: ``token:<name>#<id>``, ``device:<id>``, …
    auth_label: str = ""


@dataclass(frozen=True)
class TwoPhase:
    """A payload now and a final payload later, both on the same request id (``agent``)."""

    first: Any
    final: Awaitable[tuple[bool, Any, dict[str, Any] | None]]


Handler = Callable[[CallContext, Any], Any]


@dataclass(frozen=True)
class Method:
    name: str
    handler: Handler
    scope: str
    params: type[BaseModel]
    is_async: bool
    advertised: bool = True
    roles: frozenset[str] = field(default_factory=lambda: frozenset({"operator"}))


REGISTRY: dict[str, Method] = {}


def method(
    name: str,
    *,
    params: type[BaseModel] = NoParams,
    scope: str | None = None,
    advertised: bool = True,
    roles: frozenset[str] = frozenset({"operator"}),
) -> Callable[[Handler], Handler]:
    """Register a handler; its scope defaults to OpenClaw's rule for the name."""

    def register(fn: Handler) -> Handler:
        if name in REGISTRY:
            raise RuntimeError(f"method {name} registered twice")
        REGISTRY[name] = Method(
            name=name,
            handler=fn,
            scope=scope or gw_scopes.required_scope(name),
            params=params,
            is_async=inspect.iscoroutinefunction(fn),
            advertised=advertised,
            roles=roles,
        )
        return fn

    return register


def advertised_methods() -> list[str]:
    return [m.name for m in REGISTRY.values() if m.advertised]
