"""Team mode's event bus over Redis pub/sub: one channel, one subscriber per gateway process.

Why pub/sub, not a channels-redis group: a group is a sorted set stored in Redis, joined
once. A Redis restart without persistence empties it, and channels-redis drops a member
after ``group_expiry`` (a day by default); either way the gateway stayed subscribed to
nothing and its sockets never heard a run end (issue 14). A pub/sub subscription lives on
the subscriber's own connection: when that connection is lost, the subscriber knows it
(the read fails, or a PING goes unanswered), subscribes again on a new connection and
knows exactly how long it was deaf, so ``gateway.bus_catchup`` can re-announce the ends
it missed from the database. Nothing is stored in Redis, so nothing expires.

It is also the fast path (STYLE.md: channels-redis's pub/sub layer did about twice the group
fan-out of its core layer): a publish is one ``PUBLISH`` on a pooled connection (~0.15 ms)
from any thread, where a core-layer ``group_send`` through ``async_to_sync`` started an
event loop and a Redis connection per event and made four round trips (~3 ms).

Publishing never waits for a Redis that is down: after a failure it is skipped for
``PUBLISH_PAUSE_S`` (the events are wake-ups; receivers catch up from the database), and
each outage is logged once at WARNING, on each side.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import redis
from redis import asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

# How long the subscriber waits for a message before it PINGs Redis, and for the PONG
# (OPENCLAW_BUS_HEALTH_CHECK_S): a connection that died without a FIN (a host gone, a
# NAT entry dropped, a frozen Redis) is found here.
HEALTH_CHECK_S = 15.0
CONNECT_TIMEOUT_S = 3.0
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 5.0
PUBLISH_TIMEOUT_S = 2.0
PUBLISH_PAUSE_S = 1.0


def channel_name(url: str) -> str:
    """The pub/sub channel of this installation's events.

    Pub/sub channels are server-wide (``PUBLISH`` ignores the database number), so the
    database number is part of the name: installations on one Redis server with their
    own databases do not hear each other.
    """
    path = urlsplit(url).path.strip("/")
    return f"openclaw:{path or '0'}:gateway.events"


def subscriber_name() -> str:
    """This process's subscriber connection name (``CLIENT LIST``: which are gateways)."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())
    return f"openclaw-bus-{host}-{os.getpid()}"


class _Outage:
    """Logs the start and end of one outage once each (not one traceback per retry)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: float | None = None  # wall-clock time of the last known-good moment
        self.lock = threading.Lock()

    def down(self, exc: BaseException, *, last_good: float) -> bool:
        """Note a failure; return True if it starts an outage (logged at WARNING)."""
        with self.lock:
            if self.since is not None:
                logger.debug("%s: still failing: %s", self.what, exc)
                return False
            self.since = last_good
        logger.warning(
            "%s: Redis unreachable (%s: %s); retrying until it is back",
            self.what,
            type(exc).__name__,
            exc,
        )
        return True

    def up(self) -> float | None:
        """Note success; return when the outage began, or None if there was none."""
        with self.lock:
            since, self.since = self.since, None
        if since is not None:
            logger.warning("%s: Redis reachable again after %.1f s", self.what, time.time() - since)
        return since


class Publisher:
    """Publishes bus messages from any thread, in order per thread; never blocks on a
    Redis that is down for longer than one failed attempt."""

    def __init__(self, url: str) -> None:
        self.channel = channel_name(url)
        # One retry: the first command on a pooled connection that Redis closed (it
        # restarted) fails once, reconnects and goes through.
        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=PUBLISH_TIMEOUT_S,
            socket_timeout=PUBLISH_TIMEOUT_S,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 1),
        )
        self.outage = _Outage("event bus publisher")
        self.paused_until = 0.0
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def publish(self, message: dict[str, Any]) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._publish(message)
            return
        # On an event loop: one ordered background thread, so the loop never waits.
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="bus-publish")
        self._executor.submit(self._publish, message)

    def _publish(self, message: dict[str, Any]) -> None:
        if time.monotonic() < self.paused_until:
            return
        data = json.dumps(message, separators=(",", ":"))
        try:
            self.client.publish(self.channel, data)
        except (redis.RedisError, OSError) as exc:
            self.paused_until = time.monotonic() + PUBLISH_PAUSE_S
            self.outage.down(exc, last_good=time.time())
            return
        self.outage.up()


async def subscribe_forever(
    url: str,
    *,
    on_message: Callable[[dict[str, Any]], None],
    on_subscribed: Callable[[float | None], None],
    health_check_s: float = HEALTH_CHECK_S,
) -> None:
    """Hold a subscription to the events channel for as long as the task runs.

    ``on_message`` gets each bus message. ``on_subscribed(deaf_since)`` is called after
    every (re)subscription: ``deaf_since`` is None the first time, else the wall-clock
    time of the last moment the old subscription was known to work, i.e. the start of
    the window in which events may have been missed.
    """
    await _Subscriber(url, on_message, on_subscribed, health_check_s).run()


class _Subscriber:
    def __init__(
        self,
        url: str,
        on_message: Callable[[dict[str, Any]], None],
        on_subscribed: Callable[[float | None], None],
        health_check_s: float,
    ) -> None:
        self.url = url
        self.health_check_s = health_check_s
        self.channel = channel_name(url)
        self.on_message = on_message
        self.on_subscribed = on_subscribed
        self.outage = _Outage("event bus subscriber")
        # Wall-clock time the subscription was last proven live (a message or a PONG).
        self.last_good = time.time()

    async def run(self) -> None:
        backoff = BACKOFF_MIN_S
        first = True
        while True:
            client = aioredis.Redis.from_url(
                self.url,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_keepalive=True,
                # Named for CLIENT LIST: which connections are gateways' subscriptions.
                client_name=subscriber_name(),
                # No silent reconnect inside redis-py: a lost connection must reach this
                # loop, which knows that events were missed meanwhile.
                retry=aioredis.retry.Retry(NoBackoff(), 0),
            )
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                # The confirmation proves the subscription is live on the server.
                if await pubsub.get_message(timeout=CONNECT_TIMEOUT_S) is None:
                    raise redis.ConnectionError("no confirmation of SUBSCRIBE")
                since = self.outage.up()
                self.on_subscribed(None if first else (since or self.last_good))
                self.last_good = time.time()
                first = False
                backoff = BACKOFF_MIN_S
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                self.outage.down(exc, last_good=self.last_good)
            except Exception as exc:
                # Not a lost connection (a bug, an undecodable message): keep listening.
                logger.exception("event bus subscriber failed; subscribing again")
                self.outage.down(exc, last_good=self.last_good)
            finally:
                await _close(pubsub, client)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        """Read messages until the connection fails (raises); PING when idle."""
        ping_sent = False
        while True:
            message = await pubsub.get_message(timeout=self.health_check_s)
            if message is None:
                if ping_sent:
                    raise redis.TimeoutError(f"no answer to PING in {self.health_check_s:g} s")
                await pubsub.ping()
                ping_sent = True
                continue
            # Any reply proves the subscription alive up to now.
            self.last_good = time.time()
            ping_sent = False
            if message.get("type") != "message":
                continue
            try:
                decoded = json.loads(message["data"])
            except ValueError as exc:
                logger.warning("event bus: dropped a message that is not JSON: %s", exc)
                continue
            self.on_message(decoded)


async def _close(pubsub: aioredis.client.PubSub, client: aioredis.Redis) -> None:
    try:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
    except Exception as exc:  # a connection already gone cannot be closed cleanly
        logger.debug("closing the event bus subscriber: %s", exc)
