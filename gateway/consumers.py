"""The OpenClaw gateway protocol over WebSocket: handshake, requests, events.

Thin by design: frames are validated by ``gateway.frames``, credentials checked by one
``gateway.connect`` call, methods dispatched through ``gateway.methods.registry``, each
making at most one database call. Everything sent goes through the connection's queue
(``gateway.outbound``), so a slow client only ever stalls itself; published events pass
the connection's filter (``gateway.subscriptions``) on their way in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from pydantic import BaseModel

from core.clock import now_ms
from gateway import bus, origins, proxies, state
from gateway import scopes as gw_scopes
from gateway.calls import UnauthorizedCallError, answer_frames, error_frame, method_resolve
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
)
from gateway.handshake import connect_check, hello_payload, presence_entry, presence_message
from gateway.lib.protocol import (
    CLOSE_NORMAL,
    CLOSE_POLICY,
    HANDSHAKE_TIMEOUT_S,
    MAX_PAYLOAD_BYTES,
    PRE_CONNECT_MAX_BYTES,
    PROTOCOL_VERSION,
)
from gateway.methods.registry import CallContext, Method, MethodError
from gateway.outbound import Outbound
from gateway.ratelimit import TokenBucket, auth_rate_limiter
from gateway.subscriptions import Subscriptions

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64
REQUESTS_PER_SECOND = 200.0
REQUEST_BURST = 400.0
MAX_UNAUTHORIZED = 20


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
        self.unauthorized_calls = 0
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self.bucket = TokenBucket(REQUESTS_PER_SECOND, REQUEST_BURST)
        self.subs = Subscriptions()
        self.outbound = Outbound(conn_id=self.conn_id, send=self._send_text, close=self._close_ws)
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
        self._writer = asyncio.create_task(self.outbound.write_loop())
        self._tick: asyncio.Task[None] | None = None
        self._enqueue(event_frame("connect.challenge", {"nonce": self.nonce, "ts": now_ms()}))
        self._handshake = asyncio.create_task(self._handshake_timeout())

    async def disconnect(self, code: int) -> None:
        self.outbound.closing = True
        bus.detach(self)
        for task in [*self.inflight.values(), self._tick, self._handshake]:
            if task is not None and not task.done():
                task.cancel()
        self._writer.cancel()
        self.subs.cancel_waiters()
        if self.principal is not None and self.conn_id in state.presence:
            state.presence_set(self.conn_id, None)
            bus.dispatch_local(presence_message())

    async def _handshake_timeout(self) -> None:
        await asyncio.sleep(HANDSHAKE_TIMEOUT_S)
        if self.principal is None:
            self._close(CLOSE_NORMAL, "handshake timeout")

    # --- outbound --------------------------------------------------------------------
    @property
    def closing(self) -> bool:
        return self.outbound.closing

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close_ws(self, code: int, reason: str) -> None:
        await self.close(code=code, reason=reason)

    def _enqueue(self, frame: dict[str, Any], *, drop_if_slow: bool = False) -> bool:
        return self.outbound.enqueue(frame, drop_if_slow=drop_if_slow)

    def _close(self, code: int, reason: str) -> None:
        """Close after everything already queued has been sent."""
        self.outbound.close(code, reason)

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
        await origins.policy_ready(self.origin)  # at most a query per few s, with an Origin
        try:
            params, protocol = connect_check(
                frame.params, origin=self.origin, host=self.host, is_local=self.is_local
            )
        except ConnectError as exc:
            self._reject(frame.id, exc)
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
                now_ms=now_ms(),
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
        self._send_res(
            frame.id,
            hello_payload(conn_id=self.conn_id, protocol=self.protocol, principal=principal),
        )
        bus.attach(self)
        if params.client.mode != "cli" and principal.role == "operator":
            entry = presence_entry(params, principal, remote_ip=self.remote_ip)
            state.presence_set(self.conn_id, entry)
            bus.dispatch_local(presence_message())
        health = state.health_after_connect()  # or a refresh, broadcast to all
        if health is not None:
            self._deliver("health", state.health_for(health, principal.scopes), drop_if_slow=True)
        self._tick = asyncio.create_task(self._tick_loop())

    def _reject(self, request_id: str, exc: ConnectError) -> None:
        self._send_error(request_id, exc.code, exc.message, details=exc.details)
        self._close(exc.close_code, exc.message[:100])

    async def _tick_loop(self) -> None:
        interval = settings.GATEWAY_TICK_INTERVAL_MS / 1000
        while True:
            await asyncio.sleep(interval)
            self._deliver("tick", {"ts": now_ms()}, drop_if_slow=True)

    # --- requests --------------------------------------------------------------------
    def _dispatch(self, frame: RequestFrame) -> None:
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
        try:
            method, params = method_resolve(
                frame.method,
                frame.params,
                role=self.principal.role,
                scopes=self.principal.scopes,
            )
        except UnauthorizedCallError as exc:
            self.unauthorized_calls += 1
            self._enqueue(error_frame(frame.id, exc))
            if self.unauthorized_calls >= MAX_UNAUTHORIZED:
                self._close(CLOSE_POLICY, "repeated unauthorized calls")
            return
        except MethodError as exc:
            self._enqueue(error_frame(frame.id, exc))
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
            auth_label=self.principal.label,
        )

    async def _run(self, request_id: str, method: Method, params: BaseModel) -> None:
        try:
            async for frame in answer_frames(request_id, method, self._context(), params):
                self._enqueue(frame)
        except asyncio.CancelledError:
            if not self.closing:
                self._send_error(request_id, ErrorCode.UNAVAILABLE, "request cancelled")

    # --- events ----------------------------------------------------------------------
    def deliver_event(self, message: dict[str, Any]) -> None:
        """Called by the bus on the event loop for every published event."""
        if self.principal is None or self.closing:
            return
        self.subs.resolve(message)
        payload = self.subs.admit(message, self.principal)
        if payload is not None:
            self._deliver(message["event"], payload, drop_if_slow=bool(message.get("dropIfSlow")))

    def _deliver(self, event: str, payload: Any, *, drop_if_slow: bool = False) -> None:
        # A dropped event takes no seq: clients see contiguous numbers (a gap means loss).
        seq = self.seq + 1
        versions = dict(state.state_version) if event in ("presence", "health") else None
        if self._enqueue(
            event_frame(event, payload, seq=seq, state_version=versions), drop_if_slow=drop_if_slow
        ):
            self.seq = seq

    # --- Connection protocol for async handlers --------------------------------------
    def subscribe_sessions(self, keys: list[str] | None) -> None:
        self.subs.subscribe_sessions(keys)

    def unsubscribe_sessions(self, keys: list[str] | None) -> None:
        self.subs.unsubscribe_sessions(keys)

    def join_tool_events(self, key: str) -> None:
        if self.params is not None and "tool-events" in self.params.caps:
            self.subs.tool_event_sessions.add(key)

    def subscribe_messages(self, key: str, on: bool) -> None:
        self.subs.subscribe_messages(key, on)

    def watch_run(self, run_id: str) -> asyncio.Future[dict[str, Any]]:
        return self.subs.watch_run(run_id)

    def watch_reply(self, request_id: str) -> asyncio.Future[dict[str, Any]]:
        return self.subs.watch_reply(request_id)

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
