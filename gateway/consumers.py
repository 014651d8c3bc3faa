"""The OpenClaw gateway protocol over WebSocket: handshake, requests, events.

Thin by design: frames are validated by ``gateway.frames``, credentials checked by one
``gateway.connect`` call, methods dispatched through ``gateway.methods.registry``, each
making at most one database call. Everything sent goes through a per-connection queue
drained by a writer task, so a slow client only ever stalls itself: past
``maxBufferedBytes`` its droppable events are skipped and anything else closes it
with 1008 "slow consumer".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from pydantic import ValidationError

from gateway import bus, proxies, state
from gateway import scopes as gw_scopes
from gateway.connect import (
    ConnectError,
    Principal,
    gateway_connect_authenticate,
    gateway_connect_cached,
)
from gateway.frames import (
    CancelFrame,
    ConnectParams,
    ErrorCode,
    FrameError,
    RequestFrame,
    error_shape,
    event_frame,
    parse_frame,
    res_error,
    res_ok,
    validation_message,
)
from gateway.lib.protocol import (
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_PROTOCOL_ERROR,
    HANDSHAKE_TIMEOUT_S,
    MAX_PAYLOAD_BYTES,
    PRE_CONNECT_MAX_BYTES,
    PROTOCOL_VERSION,
    negotiate,
)
from gateway.methods import EVENTS, REGISTRY, advertised_methods
from gateway.methods.registry import CallContext, MethodError, TwoPhase
from gateway.ratelimit import TokenBucket, auth_rate_limiter

logger = logging.getLogger(__name__)

SERVER_VERSION = "openclaw-django 0.1.0"
MAX_IN_FLIGHT = 64
REQUESTS_PER_SECOND = 200.0
REQUEST_BURST = 400.0
MAX_UNAUTHORIZED = 20
# Events any authenticated operator may receive; everything else needs its scope.
UNGUARDED_EVENTS = frozenset({"tick", "shutdown", "presence", "health"})
SESSION_FILTERED_EVENTS = frozenset({"sessions.changed"})
FINAL_CHAT_STATES = frozenset({"final", "error", "aborted"})
_CLOSE = object()


class GatewayConsumer(AsyncWebsocketConsumer):
    """One WebSocket client of the gateway."""

    # No channel-layer channel per socket: events reach sockets through gateway.bus,
    # which has one layer channel per process. An alias that names no layer makes
    # Channels skip creating (and polling) a channel for every connection.
    channel_layer_alias = "gateway-sockets-use-the-bus"

    # --- lifecycle -----------------------------------------------------------------
    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its per-message ``aclose_old_connections()``.

        That call hops to the database thread before every frame (~150 µs) although this
        consumer never touches the ORM on the event loop: each database call goes
        through ``database_sync_to_async``, which closes stale connections itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.conn_id = str(uuid.uuid4())
        self.nonce = str(uuid.uuid4())
        self.principal: Principal | None = None
        self.params: ConnectParams | None = None
        self.protocol = PROTOCOL_VERSION
        self.seq = 0
        self.closing = False
        self.unauthorized_calls = 0
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self.bucket = TokenBucket(REQUESTS_PER_SECOND, REQUEST_BURST)
        self.session_subs: set[str] | None = set()  # None = every session
        self.message_subs: set[str] = set()
        # Sessions whose tool events this connection gets: those it started a run in,
        # when it declared caps ["tool-events"] (OpenClaw never broadcasts tool events).
        self.tool_event_sessions: set[str] = set()
        self.run_waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._out: deque[Any] = deque()
        self._out_bytes = 0
        self._out_ready = asyncio.Event()
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in self.scope.get("headers", [])
        }
        client = self.scope.get("client") or (None, None)
        self.origin = headers.get("origin")
        self.host = headers.get("host", "")
        if proxies.needs_lookup(headers):
            # Only a proxied connection, once per few seconds per process.
            await database_sync_to_async(proxies.trusted_networks)()
        address = proxies.resolve_client(client[0], headers, proxies.cached_networks())
        # Behind a trusted proxy this is the real client: the auth rate limit and the
        # local-client rules key on it, not on the proxy's address.
        self.remote_ip: str | None = address.ip
        self.is_local = address.is_local
        await self.accept()
        self._writer = asyncio.create_task(self._write_loop())
        self._tick: asyncio.Task[None] | None = None
        self._enqueue(event_frame("connect.challenge", {"nonce": self.nonce, "ts": state.now_ms()}))
        self._handshake = asyncio.create_task(self._handshake_timeout())

    async def disconnect(self, code: int) -> None:
        self.closing = True
        bus.detach(self)
        for task in [*self.inflight.values(), self._tick, self._handshake]:
            if task is not None and not task.done():
                task.cancel()
        self._writer.cancel()
        for waiters in self.run_waiters.values():
            for future in waiters:
                future.cancel()
        if self.principal is not None and self.conn_id in state.presence:
            state.presence_set(self.conn_id, None)
            bus.dispatch_local(self._presence_message())

    async def _handshake_timeout(self) -> None:
        await asyncio.sleep(HANDSHAKE_TIMEOUT_S)
        if self.principal is None:
            self._close(CLOSE_NORMAL, "handshake timeout")

    # --- outbound --------------------------------------------------------------------
    def _enqueue(self, frame: dict[str, Any], *, drop_if_slow: bool = False) -> bool:
        """Queue a frame; return False if it was dropped (closing, or slow and droppable)."""
        if self.closing:
            return False
        # ASCII-escaped: a lone surrogate echoed from client input stays valid UTF-8.
        text = json.dumps(frame, separators=(",", ":"))
        size = len(text)
        if self._out_bytes + size > settings.GATEWAY_MAX_BUFFERED_BYTES:
            if drop_if_slow:
                return False
            logger.warning("closing slow consumer %s", self.conn_id)
            self._out.clear()
            self._out_bytes = 0
            self._close(CLOSE_POLICY, "slow consumer")
            return False
        self._out.append(text)
        self._out_bytes += size
        self._out_ready.set()
        return True

    def _close(self, code: int, reason: str) -> None:
        """Close after everything already queued has been sent."""
        if self.closing:
            return
        self._out.append((_CLOSE, code, reason))
        self._out_ready.set()
        self.closing = True

    async def _write_loop(self) -> None:
        while True:
            await self._out_ready.wait()
            self._out_ready.clear()
            while self._out:
                item = self._out.popleft()
                if isinstance(item, tuple):
                    await self.close(code=item[1], reason=item[2])
                    return
                self._out_bytes -= len(item)
                await self.send(text_data=item)  # waits while the client reads slowly

    def _send_res(self, request_id: str, payload: Any) -> None:
        self._enqueue(res_ok(request_id, payload))

    def _send_error(self, request_id: str, code: str, message: str, **kwargs: Any) -> None:
        self._enqueue(res_error(request_id, error_shape(code, message, **kwargs)))

    # --- inbound ---------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        if text_data is None:
            self._send_error(
                "invalid",
                ErrorCode.INVALID_REQUEST,
                "invalid request frame: binary frames are not supported; send JSON text frames",
            )
            if self.principal is None:
                self._close(CLOSE_POLICY, "invalid handshake")
            return
        if self.principal is None:
            await self._receive_handshake(text_data)
            return
        if len(text_data) > MAX_PAYLOAD_BYTES:
            self._close(1009, "frame too large")
            return
        frame = parse_frame(text_data)
        if isinstance(frame, FrameError):
            self._send_error(frame.request_id, ErrorCode.INVALID_REQUEST, frame.message)
        elif isinstance(frame, CancelFrame):
            task = self.inflight.get(frame.id)
            if task is not None:
                task.cancel()
        elif isinstance(frame, RequestFrame):
            self._dispatch(frame)

    async def _receive_handshake(self, text: str) -> None:
        if len(text) > PRE_CONNECT_MAX_BYTES:
            self._send_error(
                "invalid", ErrorCode.INVALID_REQUEST, "invalid handshake: frame too large"
            )
            self._close(CLOSE_POLICY, "invalid handshake")
            return
        frame = parse_frame(text)
        if not isinstance(frame, RequestFrame) or frame.method != "connect":
            message = "invalid handshake: first request must be connect"
            request_id = getattr(frame, "id", "invalid")
            if isinstance(frame, FrameError):
                message, request_id = f"{message} ({frame.message})", frame.request_id
            self._send_error(request_id, ErrorCode.INVALID_REQUEST, message)
            self._close(CLOSE_POLICY, "invalid handshake")
            return
        if self._handshake.done():
            return
        await self._connect(frame)

    async def _connect(self, frame: RequestFrame) -> None:
        try:
            params = ConnectParams.model_validate(frame.params or {})
        except ValidationError as exc:
            self._reject(
                frame.id,
                ConnectError(
                    ErrorCode.INVALID_REQUEST, f"invalid connect params: {validation_message(exc)}"
                ),
            )
            return
        protocol = negotiate(
            min_protocol=params.minProtocol,
            max_protocol=params.maxProtocol,
            role=params.role,
            mode=params.client.mode,
        )
        if protocol is None:
            self._reject(
                frame.id,
                ConnectError(
                    ErrorCode.INVALID_REQUEST,
                    "protocol mismatch",
                    details={"expectedProtocol": PROTOCOL_VERSION},
                    close_code=CLOSE_PROTOCOL_ERROR,
                ),
            )
            return
        if self.origin is not None and not self._origin_allowed(self.origin):
            self._reject(
                frame.id,
                ConnectError(
                    ErrorCode.INVALID_REQUEST,
                    "origin not allowed; add it to OPENCLAW_GATEWAY_ALLOWED_ORIGINS",
                ),
            )
            return
        locked_ms = auth_rate_limiter.retry_after_ms(self.remote_ip, is_local=self.is_local)
        if locked_ms:
            self._send_error(
                frame.id,
                ErrorCode.UNAVAILABLE,
                "too many failed attempts; wait before retrying",
                details={"code": "AUTH_RATE_LIMITED"},
                retryable=True,
                retry_after_ms=locked_ms,
            )
            self._close(CLOSE_POLICY, "rate limited")
            return
        try:
            principal = gateway_connect_cached(params=params) or await database_sync_to_async(
                gateway_connect_authenticate
            )(
                params=params,
                nonce=self.nonce,
                is_local=self.is_local,
                browser_origin=self.origin is not None,
                remote_ip=self.remote_ip,
                now_ms=state.now_ms(),
            )
        except ConnectError as exc:
            if exc.counts_as_auth_failure:
                auth_rate_limiter.record_failure(self.remote_ip, is_local=self.is_local)
            if exc.event is not None:
                bus.publish(exc.event[0], exc.event[1], scope=gw_scopes.PAIRING)
            self._reject(frame.id, exc)
            return
        if self.closing:
            return
        self._handshake.cancel()
        self.principal = principal
        self.params = params
        self.protocol = protocol
        self._send_res(frame.id, self._hello(principal, params))
        bus.attach(self)
        if params.client.mode != "cli" and principal.role == "operator":
            state.presence_set(self.conn_id, self._presence_entry(params, principal))
            bus.dispatch_local(self._presence_message())
        health = state.health_cached()
        if health is not None:
            self._deliver("health", state.health_for(health, principal.scopes), drop_if_slow=True)
        self._tick = asyncio.create_task(self._tick_loop())

    def _reject(self, request_id: str, exc: ConnectError) -> None:
        self._send_error(request_id, exc.code, exc.message, details=exc.details)
        self._close(exc.close_code, exc.message[:100])

    def _origin_allowed(self, origin: str) -> bool:
        if origin in settings.GATEWAY_ALLOWED_ORIGINS:
            return True
        try:
            netloc = urlsplit(origin).netloc.lower()
        except ValueError:
            return False
        return bool(netloc) and netloc == self.host.lower()

    def _hello(self, principal: Principal, params: ConnectParams) -> dict[str, Any]:
        auth: dict[str, Any] = {"role": principal.role, "scopes": sorted(principal.scopes)}
        if principal.device_token:
            auth["deviceToken"] = principal.device_token
            auth["issuedAtMs"] = state.now_ms()
        default_agent = principal.default_agent_id
        return {
            "type": "hello-ok",
            "protocol": self.protocol,
            "server": {"version": SERVER_VERSION, "connId": self.conn_id},
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

    def _presence_entry(self, params: ConnectParams, principal: Principal) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "host": params.client.displayName or params.client.id,
            "ip": self.remote_ip,
            "version": params.client.version,
            "platform": params.client.platform,
            "deviceFamily": params.client.deviceFamily,
            "mode": params.client.mode,
            "reason": "connect",
            "ts": state.now_ms(),
            "deviceId": principal.device_id,
            "roles": [principal.role],
            "scopes": sorted(principal.scopes),
            "instanceId": params.client.instanceId,
        }
        return {k: v for k, v in entry.items() if v is not None}

    def _presence_message(self) -> dict[str, Any]:
        return {
            "event": "presence",
            "payload": {"presence": state.presence_list()},
            "scope": None,
            "dropIfSlow": True,
            "sessionKey": None,
        }

    async def _tick_loop(self) -> None:
        interval = settings.GATEWAY_TICK_INTERVAL_MS / 1000
        while True:
            await asyncio.sleep(interval)
            self._deliver("tick", {"ts": state.now_ms()}, drop_if_slow=True)

    # --- requests --------------------------------------------------------------------
    def _dispatch(self, frame: RequestFrame) -> None:  # noqa: PLR0911  (one check per rule)
        assert self.principal is not None
        if frame.method == "connect":
            self._send_error(frame.id, ErrorCode.INVALID_REQUEST, "already connected")
            return
        wait = self.bucket.take()
        if wait or len(self.inflight) >= MAX_IN_FLIGHT:
            self._send_error(
                frame.id,
                ErrorCode.UNAVAILABLE,
                "rate limited: too many requests on this connection",
                retryable=True,
                retry_after_ms=max(1, int(wait * 1000)),
            )
            return
        method = REGISTRY.get(frame.method)
        if method is None:
            self._send_error(frame.id, ErrorCode.INVALID_REQUEST, f"unknown method: {frame.method}")
            return
        if self.principal.role not in method.roles:
            self._unauthorized(frame.id, f"unauthorized role: {self.principal.role}")
            return
        # Operator scopes gate operator methods; a node may call only its role's methods
        # (and health, which any authenticated connection may call).
        if self.principal.role == "operator" and not gw_scopes.satisfies(
            self.principal.scopes, method.scope
        ):
            self._unauthorized(
                frame.id,
                f"missing scope: {method.scope}",
                code=ErrorCode.FORBIDDEN,
                details={
                    "code": "MISSING_SCOPE",
                    "missingScope": method.scope,
                    "requiredScopes": [method.scope],
                },
            )
            return
        try:
            params = method.params.model_validate(frame.params if frame.params is not None else {})
        except ValidationError as exc:
            self._send_error(
                frame.id,
                ErrorCode.INVALID_REQUEST,
                f"invalid {frame.method} params: {validation_message(exc)}",
            )
            return
        if frame.id in self.inflight:
            self._send_error(frame.id, ErrorCode.INVALID_REQUEST, "duplicate request id in flight")
            return
        task = asyncio.create_task(self._run(frame.id, method, params))
        self.inflight[frame.id] = task
        request_id = frame.id

        def _forget(_task: asyncio.Task[None]) -> None:
            self.inflight.pop(request_id, None)

        task.add_done_callback(_forget)

    def _unauthorized(
        self,
        request_id: str,
        message: str,
        *,
        code: str = ErrorCode.INVALID_REQUEST,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.unauthorized_calls += 1
        self._send_error(request_id, code, message, details=details)
        if self.unauthorized_calls >= MAX_UNAUTHORIZED:
            self._close(CLOSE_POLICY, "repeated unauthorized calls")

    def _context(self) -> CallContext:
        assert self.principal is not None
        assert self.params is not None
        return CallContext(
            conn_id=self.conn_id,
            role=self.principal.role,
            scopes=self.principal.scopes,
            client_id=self.params.client.id,
            client_mode=self.params.client.mode,
            device_id=self.principal.device_id,
            caps=frozenset(self.params.caps),
            connection=self,
        )

    async def _run(self, request_id: str, method: Any, params: Any) -> None:
        ctx = self._context()
        try:
            if method.is_async:
                result = await method.handler(ctx, params)
            else:
                result = await database_sync_to_async(method.handler)(ctx, params)
            if isinstance(result, TwoPhase):
                self._send_res(request_id, result.first)
                ok, payload, error = await result.final
                if ok:
                    self._send_res(request_id, payload)
                else:
                    self._enqueue(res_error(request_id, error or {}, payload))
            else:
                self._send_res(request_id, result)
        except MethodError as exc:
            self._send_error(
                request_id,
                exc.code,
                exc.message,
                details=exc.details,
                retryable=exc.retryable,
                retry_after_ms=exc.retry_after_ms,
            )
        except asyncio.CancelledError:
            if not self.closing:
                self._send_error(request_id, ErrorCode.UNAVAILABLE, "request cancelled")
        except Exception:
            logger.exception("method %s failed", method.name)
            self._send_error(
                request_id, ErrorCode.UNAVAILABLE, f"{method.name} failed; see the gateway log"
            )

    # --- events ----------------------------------------------------------------------
    def deliver_event(self, message: dict[str, Any]) -> None:
        """Called by the bus on the event loop for every published event."""
        if self.principal is None or self.closing:
            return
        event = message["event"]
        payload = message["payload"]
        if event == "chat" and payload.get("state") in FINAL_CHAT_STATES:
            for future in self.run_waiters.pop(payload.get("runId", ""), []):
                if not future.done():
                    future.set_result(payload)
        if self.principal.role != "operator" and event not in ("tick", "shutdown"):
            return
        scope = message.get("scope")
        if scope is None and event not in UNGUARDED_EVENTS:
            scope = gw_scopes.READ
        if scope is not None and not gw_scopes.satisfies(self.principal.scopes, scope):
            return
        if event == "health" and isinstance(payload, dict):
            payload = state.health_for(payload, self.principal.scopes)
        session_key = message.get("sessionKey")
        if event in SESSION_FILTERED_EVENTS and not self._subscribed(session_key):
            return
        if event == "session.message" and session_key not in self.message_subs:
            return
        if (
            event == "agent"
            and payload.get("stream") == "tool"
            and session_key not in self.tool_event_sessions
        ):
            return
        self._deliver(event, payload, drop_if_slow=bool(message.get("dropIfSlow")))

    def _deliver(self, event: str, payload: Any, *, drop_if_slow: bool = False) -> None:
        # A dropped event takes no seq: clients see contiguous numbers (a gap means loss).
        seq = self.seq + 1
        versions = dict(state.state_version) if event in ("presence", "health") else None
        if self._enqueue(
            event_frame(event, payload, seq=seq, state_version=versions), drop_if_slow=drop_if_slow
        ):
            self.seq = seq

    def _subscribed(self, session_key: str | None) -> bool:
        if self.session_subs is None:
            return True
        return session_key is not None and session_key in self.session_subs

    # --- Connection protocol for async handlers --------------------------------------
    def subscribe_sessions(self, keys: list[str] | None) -> None:
        if keys is None:
            self.session_subs = None
        elif self.session_subs is not None:
            self.session_subs.update(keys)

    def unsubscribe_sessions(self, keys: list[str] | None) -> None:
        if keys is None:
            self.session_subs = set()
        elif self.session_subs is not None:
            self.session_subs.difference_update(keys)

    def join_tool_events(self, key: str) -> None:
        if self.params is not None and "tool-events" in self.params.caps:
            self.tool_event_sessions.add(key)

    def subscribe_messages(self, key: str, on: bool) -> None:
        if on:
            self.message_subs.add(key)
        else:
            self.message_subs.discard(key)

    def watch_run(self, run_id: str) -> asyncio.Future[dict[str, Any]]:
        """Return a future resolved by the run's final/error/aborted chat event."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.run_waiters.setdefault(run_id, []).append(future)
        return future

    async def wait_run(self, run_id: str, timeout_s: float) -> dict[str, Any] | None:
        future = self.watch_run(run_id)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None


def announce_shutdown(reason: str = "gateway stopping") -> None:
    """Tell every connection of this process that the gateway stops (before 1012)."""
    for subscriber in bus.subscribers():
        if isinstance(subscriber, GatewayConsumer):
            with contextlib.suppress(Exception):
                subscriber._deliver("shutdown", {"reason": reason, "restartExpectedMs": None})
