"""Event fan-out to the WebSocket connections of this process, and across processes.

Each gateway process keeps a registry of its live connections. ``publish`` (the
``core.events`` port) delivers an event to them from any thread: embedded mode's Celery
worker threads hand it to the server's event loop thread-safely. In team mode the event
goes through one Redis pub/sub channel (``gateway.bus_redis``) to which each gateway
process subscribes once (a listener task), not once per socket: a publish costs one Redis
message per process, and each process fans out locally. When the listener's
subscription was lost (Redis restarted or unreachable) it subscribes again by itself and
re-announces to its sockets the run ends it missed, from the database
(``gateway.bus_catchup``). An embedded gateway's worker processes
(``OPENCLAW_WORKER_PROCESSES``) hand their events to the gateway over its local broker
(``core.localbroker``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings

from core import localbroker

if TYPE_CHECKING:
    from gateway.bus_catchup import RunMemory
    from gateway.bus_redis import Publisher

if settings.REDIS_URL:
    # Team mode: load the Redis client (~0.3 s) and the catch-up at start-up, not on the
    # event loop when the first socket attaches. An embedded gateway never loads them.
    import gateway.bus_catchup
    import gateway.bus_redis  # noqa: F401

logger = logging.getLogger(__name__)


class Subscriber(Protocol):
    def deliver_event(self, event: dict[str, Any]) -> None: ...


_subscribers: set[Subscriber] = set()
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()
_listener: asyncio.Task[None] | None = None
# Set once this process's listener has subscribed (team mode).
_joined: asyncio.Event | None = None
# The runs this process's sockets heard of (team mode; one per listener).
_memory: RunMemory | None = None
_publishers: dict[str, Publisher] = {}
_catch_ups: set[asyncio.Task[None]] = set()
CATCH_UP_ATTEMPTS = 4
# A first subscription made within this long of the first socket cannot have missed the
# end of a run one of its sockets started (a turn takes a broker hop and a model call).
FIRST_SUBSCRIBE_GRACE_S = 0.25


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


def bus_message(
    event: str,
    payload: dict[str, Any],
    *,
    scope: str | None = None,
    drop_if_slow: bool = False,
    session_key: str | None = None,
) -> dict[str, Any]:
    """A bus message: what ``publish`` sends and ``dispatch_local`` takes."""
    return {
        "event": event,
        "payload": payload,
        "scope": scope,
        "dropIfSlow": drop_if_slow,
        "sessionKey": session_key,
    }


def publish(
    event: str,
    payload: dict[str, Any],
    *,
    scope: str | None = None,
    drop_if_slow: bool = False,
    session_key: str | None = None,
) -> None:
    """Announce an event (the core.events port); safe from any thread."""
    message = bus_message(
        event, payload, scope=scope, drop_if_slow=drop_if_slow, session_key=session_key
    )
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
    """Publish to every gateway process (team mode), from any thread."""
    url = settings.REDIS_URL
    publisher = _publishers.get(url)
    if publisher is None:
        from gateway.bus_redis import Publisher  # noqa: PLC0415  (team mode only)

        publisher = _publishers.setdefault(url, Publisher(url))
    publisher.publish(message)


def _ensure_listener() -> None:
    global _listener, _joined, _memory  # noqa: PLW0603
    running = asyncio.get_running_loop()
    # A listener of another (closed) event loop never runs again: the gateway has one
    # loop per process, but tests and embedded restarts bring a new one.
    if _listener is None or _listener.done() or _listener.get_loop() is not running:
        from gateway.bus_catchup import RunMemory  # noqa: PLC0415  (team mode only)

        _joined = asyncio.Event()
        _memory = RunMemory()
        _listener = running.create_task(_listen(_joined))


async def wait_listening(timeout_s: float = 5.0) -> bool:
    """Wait until this process receives team-mode events (True at once in embedded mode).

    Events published before the listener subscribed are not replayed: they are
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
    """Hold this process's subscription; re-dispatch what arrives to local sockets."""
    from gateway.bus_redis import subscribe_forever  # noqa: PLC0415  (team mode only)

    started = time.time()

    def on_subscribed(deaf_since: float | None) -> None:
        joined.set()
        if deaf_since is None and time.time() - started > FIRST_SUBSCRIBE_GRACE_S:
            # Slow to subscribe (Redis down or slow at start): this process's first
            # sockets may already have runs that ended unheard.
            deaf_since = started
        if deaf_since is not None:
            task = asyncio.get_running_loop().create_task(_catch_up(deaf_since))
            _catch_ups.add(task)
            task.add_done_callback(_catch_ups.discard)

    await subscribe_forever(
        settings.REDIS_URL,
        on_message=_receive,
        on_subscribed=on_subscribed,
        health_check_s=settings.GATEWAY_BUS_HEALTH_CHECK_S,
    )


def _receive(message: dict[str, Any]) -> None:
    if _memory is None or _memory.admit(message):
        dispatch_local(message)


async def _catch_up(deaf_since: float) -> None:
    """Re-announce the run ends this process missed while it was not subscribed."""
    from gateway.bus_catchup import missed_run_ends  # noqa: PLC0415  (team mode only)

    memory = _memory
    if memory is None:
        return
    for attempt in range(CATCH_UP_ATTEMPTS):
        try:
            ended = await missed_run_ends(memory, deaf_since=deaf_since)
            break
        except Exception as exc:  # the database may be coming back too
            if attempt == CATCH_UP_ATTEMPTS - 1:
                logger.exception("event bus: reading the runs that ended meanwhile failed")
                return
            logger.warning("event bus: reading the runs that ended meanwhile failed: %s", exc)
            await asyncio.sleep(2**attempt)
    sent = 0
    for chat in ended:
        message = bus_message(
            "chat", chat.payload, session_key=chat.session_key, drop_if_slow=False
        )
        if memory.admit(message):
            dispatch_local(message)
            sent += 1
    logger.info(
        "event bus: re-announced %d run end(s) missed since %.1f s ago",
        sent,
        time.time() - deaf_since,
    )
