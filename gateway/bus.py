"""Event fan-out to the WebSocket connections of this process, and across processes.

Each gateway process keeps a registry of its live connections. ``publish`` (the
``core.events`` port) delivers an event to them from any thread: embedded mode's Celery
worker threads hand it to the server's event loop thread-safely. In team mode the event
goes through the channel layer group ``gateway.events``, which has one member per
gateway process (a listener task), not one per socket: a group send costs one Redis
message per process, and each process fans out locally. An embedded gateway's worker
processes (``OPENCLAW_WORKER_PROCESSES``) hand their events to the gateway over its
local broker (``core.localbroker``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Protocol

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from core import localbroker

logger = logging.getLogger(__name__)

GROUP = "gateway.events"


class Subscriber(Protocol):
    def deliver_event(self, event: dict[str, Any]) -> None: ...


_subscribers: set[Subscriber] = set()
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()
_listener: asyncio.Task[None] | None = None
# Set once this process's listener has joined the group (team mode).
_joined: asyncio.Event | None = None


def attach(subscriber: Subscriber) -> None:
    """Register a connection (called on the event loop)."""
    global _loop  # noqa: PLW0603
    _loop = asyncio.get_running_loop()
    with _lock:
        _subscribers.add(subscriber)
    if settings.REDIS_URL:
        _ensure_listener()


def detach(subscriber: Subscriber) -> None:
    with _lock:
        _subscribers.discard(subscriber)


def subscribers() -> list[Subscriber]:
    with _lock:
        return list(_subscribers)


def dispatch_local(event: dict[str, Any]) -> None:
    """Deliver to this process's connections; must run on the event loop thread."""
    for subscriber in subscribers():
        try:
            subscriber.deliver_event(event)
        except Exception:
            logger.exception("delivering %s to a connection failed", event.get("event"))


def publish(
    event: str,
    payload: dict[str, Any],
    *,
    scope: str | None = None,
    drop_if_slow: bool = False,
    session_key: str | None = None,
) -> None:
    """Announce an event (the core.events port); safe from any thread."""
    message = {
        "event": event,
        "payload": payload,
        "scope": scope,
        "dropIfSlow": drop_if_slow,
        "sessionKey": session_key,
    }
    if settings.REDIS_URL:
        _publish_layer(message)
        return
    if settings.EMBEDDED_BROKER_SOCKET:
        # A worker process of an embedded gateway: its sockets are the gateway's.
        localbroker.relay_event(message)
        return
    publish_local(message)


def publish_local(message: dict[str, Any]) -> None:
    """Deliver to this process's connections only, from any thread (a bus message as
    ``publish`` builds it). Team mode's per-process state (``health``) goes out this way:
    each process tells its own sockets."""
    loop = _loop
    if loop is None or loop.is_closed():
        return  # no connection ever attached in this process: nobody to tell
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        dispatch_local(message)
    else:
        loop.call_soon_threadsafe(dispatch_local, message)


def _publish_layer(message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    payload = {"type": "gateway.event", "message": message}
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        running.create_task(layer.group_send(GROUP, payload))
    else:
        async_to_sync(layer.group_send)(GROUP, payload)


def _ensure_listener() -> None:
    global _listener, _joined  # noqa: PLW0603
    running = asyncio.get_running_loop()
    # A listener of another (closed) event loop never runs again: the gateway has one
    # loop per process, but tests and embedded restarts bring a new one.
    if _listener is None or _listener.done() or _listener.get_loop() is not running:
        _joined = asyncio.Event()
        _listener = running.create_task(_listen(_joined))


async def wait_listening(timeout_s: float = 5.0) -> bool:
    """Wait until this process receives team-mode events (True at once in embedded mode).

    Events published before the listener joined the group are not replayed: they are
    wake-ups, and clients read the state they announce from the database.
    """
    if not settings.REDIS_URL:
        return True
    if _joined is None:
        return False
    try:
        await asyncio.wait_for(_joined.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


async def _listen(joined: asyncio.Event) -> None:
    """One channel per process in the group; re-dispatch what arrives to local sockets."""
    layer = get_channel_layer()
    if layer is None:
        return
    # The default prefix on purpose: channels-redis serves all of a process's channels
    # with one blocking read on one key per prefix, under one lock; a second prefix
    # would wait behind that read (up to 5 s) before its own is even issued.
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    joined.set()
    try:
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("channel layer receive failed; retrying")
                await asyncio.sleep(1)
                continue
            if message.get("type") == "gateway.event":
                dispatch_local(message["message"])
    finally:
        await layer.group_discard(GROUP, channel)
