"""A small WebSocket client that behaves like OpenClaw's own clients (CLI, TUI, Control UI).

It waits for ``connect.challenge``, sends ``connect`` (optionally with an Ed25519 device
identity signed the v3 way, over the server's nonce), then lets a test ``call`` methods
and read what came back. Responses are matched by request id and several ``res`` frames
per id are kept (``agent`` answers twice); events are collected in arrival order.

The device signature is computed here from the protocol's description (openclaw-protocol.md
§1.4), not with ``gateway.lib.device_auth``, so it checks the server instead of mirroring it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

DEFAULT_TIMEOUT_S = 10.0
PROTOCOL = 4


def b64url(raw: bytes) -> str:
    """base64url without padding, as OpenClaw encodes keys and signatures."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _norm(value: str | None) -> str:
    return (value or "").strip().lower()


@dataclass
class DeviceKey:
    """An Ed25519 device identity: ``id`` is the sha256 hex of the raw 32-byte public key."""

    private_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_key(self) -> str:
        return b64url(self.public_raw)

    @property
    def device_id(self) -> str:
        return hashlib.sha256(self.public_raw).hexdigest()

    @staticmethod
    def payload_v3(
        *,
        device_id: str,
        client_id: str,
        client_mode: str,
        role: str,
        scopes: list[str],
        signed_at_ms: int,
        token: str,
        nonce: str,
        platform: str | None,
        device_family: str | None,
    ) -> str:
        """``v3|deviceId|clientId|clientMode|role|scopes|signedAtMs|token|nonce|platform|family``."""
        return "|".join(
            [
                "v3",
                device_id,
                client_id,
                client_mode,
                role,
                ",".join(scopes),
                str(signed_at_ms),
                token,
                nonce,
                _norm(platform),
                _norm(device_family),
            ]
        )

    def sign(self, text: str) -> str:
        return b64url(self.private_key.sign(text.encode()))

    def device_block(
        self,
        *,
        nonce: str,
        client_id: str,
        client_mode: str,
        role: str,
        scopes: list[str],
        token: str,
        platform: str | None,
        device_family: str | None,
        signed_at_ms: int | None = None,
        device_id: str | None = None,
        public_key: str | None = None,
        sign_nonce: str | None = None,
    ) -> dict[str, Any]:
        """The connect ``device`` object; overrides let tests forge bad identities."""
        signed_at = signed_at_ms if signed_at_ms is not None else int(time.time() * 1000)
        the_id = device_id if device_id is not None else self.device_id
        text = self.payload_v3(
            device_id=the_id,
            client_id=client_id,
            client_mode=client_mode,
            role=role,
            scopes=scopes,
            signed_at_ms=signed_at,
            token=token,
            nonce=sign_nonce if sign_nonce is not None else nonce,
            platform=platform,
            device_family=device_family,
        )
        return {
            "id": the_id,
            "publicKey": public_key if public_key is not None else self.public_key,
            "signature": self.sign(text),
            "signedAt": signed_at,
            "nonce": nonce,
        }


def _status(payload: Any) -> Any:
    return payload.get("status") if isinstance(payload, dict) else None


def build_connect_params(
    *,
    nonce: str,
    token: str | None = None,
    device_token: str | None = None,
    password: str | None = None,
    client_id: str = "cli",
    mode: str = "cli",
    role: str = "operator",
    scopes: list[str] | None = None,
    caps: list[str] | None = None,
    device: DeviceKey | None = None,
    min_protocol: int = PROTOCOL,
    max_protocol: int = PROTOCOL,
    platform: str = "linux",
    device_family: str | None = "Linux",
    version: str = "2026.9.6",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``connect`` params as OpenClaw's CLI/TUI build them; with ``device``, a v3 device
    block signed over ``nonce`` (the server's challenge)."""
    client: dict[str, Any] = {
        "id": client_id,
        "version": version,
        "platform": platform,
        "mode": mode,
        "instanceId": str(uuid.uuid4()),
    }
    if device_family is not None:
        client["deviceFamily"] = device_family
    params: dict[str, Any] = {
        "minProtocol": min_protocol,
        "maxProtocol": max_protocol,
        "client": client,
        "caps": list(caps or []),
        "role": role,
        "scopes": list(scopes or []),
    }
    auth = {
        k: v
        for k, v in (("token", token), ("deviceToken", device_token), ("password", password))
        if v is not None
    }
    if auth:
        params["auth"] = auth
    if extra:
        params.update(extra)
    if device is not None:
        params["device"] = sign_device(params, device, nonce=nonce)
    return params


def sign_device(params: dict[str, Any], device: DeviceKey, *, nonce: str) -> dict[str, Any]:
    """A device block for these connect params, signed over ``nonce``.

    The signed token is ``auth.token ?? auth.deviceToken ?? ""``, as OpenClaw's clients sign.
    """
    auth = params.get("auth") or {}
    token = auth.get("token")
    if token is None:
        token = auth.get("deviceToken")
    client = params["client"]
    return device.device_block(
        nonce=nonce,
        client_id=client["id"],
        client_mode=client["mode"],
        role=params.get("role", "operator"),
        scopes=list(params.get("scopes") or []),
        token=token if token is not None else "",
        platform=client.get("platform"),
        device_family=client.get("deviceFamily"),
    )


class GatewayClosedError(Exception):
    """The server closed the socket while the client waited for something."""

    def __init__(self, code: int | None, reason: str | None) -> None:
        super().__init__(f"socket closed by the server: {code} {reason!r}")
        self.code = code
        self.reason = reason


class _Requests:
    """Connect and request helpers shared by both clients.

    A client supplies ``challenge``, ``hello``, ``next_id``, ``send_frame`` and
    ``response(request_id, wait_s=...)``.
    """

    challenge: dict[str, Any] | None
    hello: Any

    def next_id(self) -> str:
        raise NotImplementedError

    async def send_frame(self, frame: dict[str, Any]) -> None:
        raise NotImplementedError

    async def response(self, request_id: str, *, wait_s: float | None = None) -> Any:
        raise NotImplementedError

    def connect_params(self, **kwargs: Any) -> dict[str, Any]:
        """Connect params as OpenClaw's clients build them, signed over our challenge."""
        assert self.challenge is not None, "open() first"
        return build_connect_params(nonce=self.challenge["nonce"], **kwargs)

    def sign_device(self, params: dict[str, Any], device: DeviceKey) -> dict[str, Any]:
        assert self.challenge is not None, "open() first"
        return sign_device(params, device, nonce=self.challenge["nonce"])

    async def handshake(self, params: dict[str, Any], *, request_id: str | None = None) -> Any:
        """Send ``connect`` with these params; return its ``res`` frame (hello-ok or error)."""
        rid = request_id or self.next_id()
        await self.send_frame({"type": "req", "id": rid, "method": "connect", "params": params})
        frame = await self.response(rid)
        if frame.get("ok"):
            self.hello = frame["payload"]
        return frame

    async def connect(self, **kwargs: Any) -> Any:
        """``connect_params(**kwargs)`` then ``handshake``; returns the ``res`` frame."""
        return await self.handshake(self.connect_params(**kwargs))

    async def send_request(
        self, method: str, params: Any = None, *, request_id: str | None = None
    ) -> str:
        rid = request_id or self.next_id()
        frame: dict[str, Any] = {"type": "req", "id": rid, "method": method}
        if params is not None:
            frame["params"] = params
        await self.send_frame(frame)
        return rid

    async def call(
        self, method: str, params: Any = None, *, wait_s: float | None = None
    ) -> dict[str, Any]:
        """Send a request and return its first ``res`` frame."""
        rid = await self.send_request(method, params)
        frame: dict[str, Any] = await self.response(rid, wait_s=wait_s)
        return frame


class OpenClawClient(_Requests):
    """One connection. Use ``async with OpenClawClient(url) as client:``."""

    def __init__(
        self,
        url: str,
        *,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.origin = origin
        self.headers = headers or {}
        self.timeout = timeout
        self.ws: ClientConnection | None = None
        self.challenge: dict[str, Any] | None = None
        self.hello: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []  # everything received, in order
        self.non_json: list[str | bytes] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed = asyncio.Event()
        self._responses: dict[str, list[dict[str, Any]]] = {}
        self._arrived = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)

    # --- socket ------------------------------------------------------------------------
    async def open(self) -> dict[str, Any]:
        """Open the socket and return the ``connect.challenge`` payload."""
        self.ws = await ws_connect(
            self.url,
            origin=self.origin,  # type: ignore[arg-type]
            additional_headers=self.headers or None,
            max_size=None,
            open_timeout=self.timeout,
            ping_interval=None,
        )
        self._reader = asyncio.create_task(self._read_loop())
        event = await self.wait_event("connect.challenge")
        self.challenge = event["payload"]
        return self.challenge

    @property
    def challenge_nonce(self) -> str:
        assert self.challenge is not None, "open() first"
        return str(self.challenge["nonce"])

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def __aenter__(self) -> OpenClawClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read_loop(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                try:
                    frame = json.loads(message)
                except ValueError:
                    self.non_json.append(message)
                    continue
                async with self._arrived:
                    self.frames.append(frame)
                    if isinstance(frame, dict) and frame.get("type") == "res":
                        self._responses.setdefault(str(frame.get("id")), []).append(frame)
                    elif isinstance(frame, dict) and frame.get("type") == "event":
                        self.events.append(frame)
                    self._arrived.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.closed.set()
            async with self._arrived:
                self._arrived.notify_all()

    async def send_raw(self, data: str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(data)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(frame))

    def next_id(self) -> str:
        return f"{next(self._ids)}:{uuid.uuid4()}"

    # --- waiting ---------------------------------------------------------------------
    async def _wait_for(self, ready: Any, what: str, wait_s: float | None) -> Any:
        async def wait() -> Any:
            async with self._arrived:
                while True:
                    found = ready()
                    if found is not None:
                        return found
                    if self.closed.is_set():
                        raise GatewayClosedError(self.close_code, self.close_reason)
                    await self._arrived.wait()

        try:
            return await asyncio.wait_for(wait(), wait_s or self.timeout)
        except TimeoutError:
            raise TimeoutError(f"no {what} within {wait_s or self.timeout}s") from None

    async def response(self, request_id: str, index: int = 0, wait_s: float | None = None) -> Any:
        """The ``index``-th ``res`` frame for ``request_id`` (waits for it)."""

        def ready() -> dict[str, Any] | None:
            got = self._responses.get(request_id, [])
            return got[index] if len(got) > index else None

        frame: dict[str, Any] = await self._wait_for(
            ready, f"res #{index} for {request_id}", wait_s
        )
        return frame

    def responses(self, request_id: str) -> list[dict[str, Any]]:
        return list(self._responses.get(request_id, []))

    async def wait_event(
        self, name: str, *, after: int = 0, wait_s: float | None = None
    ) -> dict[str, Any]:
        """The first event called ``name`` among events[after:]."""

        def ready() -> dict[str, Any] | None:
            return next((e for e in self.events[after:] if e.get("event") == name), None)

        event: dict[str, Any] = await self._wait_for(ready, f"event {name}", wait_s)
        return event

    async def wait_closed(self, wait_s: float | None = None) -> tuple[int | None, str | None]:
        await asyncio.wait_for(self.closed.wait(), wait_s or self.timeout)
        return self.close_code, self.close_reason

    # --- protocol --------------------------------------------------------------------

    async def expect_final(
        self, method: str, params: Any = None, *, wait_s: float | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """For two-``res`` methods (``agent``): skip ``status:"accepted"`` acks, as
        OpenClaw's ``expectFinal`` does; return (first res, final res)."""
        rid = await self.send_request(method, params)
        first: dict[str, Any] = await self.response(rid, wait_s=wait_s)
        index, final = 0, first
        while final.get("ok") and _status(final.get("payload")) == "accepted":
            index += 1
            final = await self.response(rid, index, wait_s=wait_s)
        return first, final

    def event_names(self) -> list[str]:
        return [str(e.get("event")) for e in self.events]


class InProcessClient(_Requests):
    """The same client over channels' ``WebsocketCommunicator``: no socket, in this process.

    For tests that patch settings or constants, fake the peer address (``client``) or read
    the database. Every text frame is checked to be encodable as UTF-8, as a real
    WebSocket server must send it. Use ``async with InProcessClient() as client:``.
    """

    def __init__(
        self,
        *,
        client: tuple[str, int] | None = ("127.0.0.1", 50123),
        headers: dict[str, str] | None = None,
        path: str = "/",
        timeout: float = 5.0,
    ) -> None:
        from channels.testing import WebsocketCommunicator

        from openclaw_site.asgi import application

        raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self.communicator = WebsocketCommunicator(application, path, headers=raw_headers)
        if client is not None:
            self.communicator.scope["client"] = client
        self.timeout = timeout
        self.challenge: dict[str, Any] | None = None
        self.hello: dict[str, Any] | None = None
        self.frames: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._pending: list[dict[str, Any]] = []  # read but not yet consumed by response()
        self._ids = itertools.count(1)
        self._disconnected = False

    async def open(self) -> dict[str, Any]:
        accepted, _ = await self.communicator.connect(timeout=self.timeout)
        assert accepted, "the gateway refused the WebSocket"
        frame = await self.recv()
        assert frame.get("event") == "connect.challenge", frame
        self.challenge = frame["payload"]
        return self.challenge

    async def close(self) -> None:
        if not self._disconnected:
            self._disconnected = True
            with contextlib.suppress(Exception):
                await self.communicator.disconnect(timeout=self.timeout)

    async def __aenter__(self) -> InProcessClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    async def recv(self, wait_s: float | None = None) -> dict[str, Any]:
        """The next frame from the server; GatewayClosedError once it closed the socket."""
        if self.closed:
            raise GatewayClosedError(self.close_code, self.close_reason)
        try:
            message = await self.communicator.receive_output(wait_s or self.timeout)
        except TimeoutError:
            raise TimeoutError(f"no frame within {wait_s or self.timeout}s") from None
        if message["type"] == "websocket.close":
            self.close_code = int(message.get("code") or 1000)
            self.close_reason = message.get("reason") or ""
            raise GatewayClosedError(self.close_code, self.close_reason)
        text = message.get("text")
        assert text is not None, f"binary frame from the server: {message!r}"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise AssertionError(f"the server sent text a WebSocket cannot carry: {exc}") from None
        frame: dict[str, Any] = json.loads(text)
        self.frames.append(frame)
        if frame.get("type") == "event":
            self.events.append(frame)
        return frame

    async def wait_closed(self, wait_s: float | None = None) -> tuple[int | None, str | None]:
        """Read (and keep) frames until the server closes; return (code, reason)."""
        try:
            while True:
                self._pending.append(await self.recv(wait_s))
        except GatewayClosedError:
            return self.close_code, self.close_reason

    async def quiet(self, wait_s: float = 0.2) -> bool:
        """True when nothing arrives for ``wait_s``."""
        return bool(await self.communicator.receive_nothing(timeout=wait_s))

    async def send_raw(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.communicator.send_to(bytes_data=data)
        else:
            await self.communicator.send_to(text_data=data)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(frame))

    def next_id(self) -> str:
        return f"{next(self._ids)}:{uuid.uuid4()}"

    async def response(self, request_id: str, wait_s: float | None = None) -> dict[str, Any]:
        """The next ``res`` for ``request_id`` (events and other answers are kept)."""
        for index, frame in enumerate(self._pending):
            if frame.get("type") == "res" and frame.get("id") == request_id:
                return self._pending.pop(index)
        while True:
            frame = await self.recv(wait_s)
            if frame.get("type") == "res" and frame.get("id") == request_id:
                return frame
            self._pending.append(frame)

    async def wait_event(self, name: str, wait_s: float | None = None) -> dict[str, Any]:
        """The next not yet consumed event called ``name``."""
        for index, frame in enumerate(self._pending):
            if frame.get("type") == "event" and frame.get("event") == name:
                return self._pending.pop(index)
        while True:
            frame = await self.recv(wait_s)
            if frame.get("type") == "event" and frame.get("event") == name:
                return frame
            self._pending.append(frame)


async def release_worker_db_connections() -> None:
    """Close the database connections of asgiref's shared sync worker thread.

    The consumer's ``database_sync_to_async`` calls open them there; Django never closes an
    in-memory SQLite connection on request, and a later test without database access then
    trips over it (channels' ``close_old_connections`` touches it). Call this at the end of
    an in-process test; the test database lives on in the main thread's connection.
    """
    from asgiref.sync import sync_to_async

    def close() -> None:
        from django.db import connections
        from django.db.backends.base.base import BaseDatabaseWrapper

        for connection in connections.all(initialized_only=True):
            if connection.connection is not None:
                BaseDatabaseWrapper.close(connection)

    await sync_to_async(close, thread_sensitive=True)()
