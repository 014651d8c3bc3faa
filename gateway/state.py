"""Process-wide gateway state: presence entries, state versions, cached health.

``health`` answers from this cache and never touches the database per call; the cache
is rebuilt in one database call when older than ``GATEWAY_HEALTH_REFRESH_S`` (60 s), or
on ``probe``. Each rebuild bumps ``stateVersion.health`` and is broadcast as the
``health`` event to this process's connections, as OpenClaw does: every 60 s (one timer
per process, running only while a client is connected) and after a connect (at most
once per ``GATEWAY_HEALTH_CONNECT_REFRESH_S``). Each connection gets the summary its
scopes allow (``health_for``, applied by ``gateway.subscriptions``). In team mode every
process refreshes for its own sockets: the event never crosses the channel layer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from gateway import bus
from gateway.scopes import READ, satisfies
from gateway.selectors import health_summary

logger = logging.getLogger(__name__)

STARTED_MONOTONIC = time.monotonic()
state_version = {"presence": 0, "health": 0}
presence: dict[str, dict[str, Any]] = {}

_health: dict[str, Any] | None = None
_health_at = 0.0
_health_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
_redacted: tuple[dict[str, Any], dict[str, Any]] | None = None
# When a connect last started a refresh (OpenClaw's background-refresh admission).
_connect_refresh_at: float | None = None
_ticker: asyncio.Task[None] | None = None
_background: set[asyncio.Task[Any]] = set()


def uptime_ms() -> int:
    return int((time.monotonic() - STARTED_MONOTONIC) * 1000)


def presence_list() -> list[dict[str, Any]]:
    return list(presence.values())


def presence_set(conn_id: str, entry: dict[str, Any] | None) -> None:
    if entry is None:
        if presence.pop(conn_id, None) is None:
            return
    else:
        presence[conn_id] = entry
    state_version["presence"] += 1


def health_cached() -> dict[str, Any] | None:
    return _health


def health_redacted(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without session keys, for connections below ``operator.read``.

    Counts stay; the ``recent`` lists (whose entries are session keys) are emptied.
    Memoized per summary object: it is rebuilt at most every 60 s.
    """
    global _redacted  # noqa: PLW0603
    if _redacted is not None and _redacted[0] is summary:
        return _redacted[1]
    out = dict(summary)
    if isinstance(out.get("sessions"), dict):
        out["sessions"] = {**out["sessions"], "recent": []}
    if isinstance(out.get("agents"), list):
        out["agents"] = [
            {**agent, "sessions": {**agent["sessions"], "recent": []}}
            if isinstance(agent, dict) and isinstance(agent.get("sessions"), dict)
            else agent
            for agent in out["agents"]
        ]
    _redacted = (summary, out)
    return out


def health_for(summary: dict[str, Any], scopes: frozenset[str]) -> dict[str, Any]:
    """The summary as a connection with ``scopes`` may see it (least disclosure)."""
    return summary if satisfies(scopes, READ) else health_redacted(summary)


def _fresh() -> bool:
    return _health is not None and time.monotonic() - _health_at < settings.GATEWAY_HEALTH_REFRESH_S


def health_message(summary: dict[str, Any]) -> dict[str, Any]:
    """The ``health`` event as the bus carries it (redacted per connection on delivery)."""
    return {
        "event": "health",
        "payload": summary,
        "scope": None,
        "dropIfSlow": True,
        "sessionKey": None,
    }


async def health_get(*, force: bool = False) -> dict[str, Any]:
    """Return the health summary, rebuilding it when stale or forced.

    A rebuild is broadcast to this process's connections as the ``health`` event.
    """
    global _health, _health_at, _health_lock  # noqa: PLW0603
    if not force and _fresh():
        assert _health is not None
        return _health
    loop = asyncio.get_running_loop()
    if _health_lock is None or _health_lock[0] is not loop:
        _health_lock = (loop, asyncio.Lock())  # a Lock belongs to one event loop
    async with _health_lock[1]:
        if not force and _fresh():
            assert _health is not None
            return _health
        started = time.monotonic()
        summary = await database_sync_to_async(health_summary)()
        summary["durationMs"] = int((time.monotonic() - started) * 1000)
        _health, _health_at = summary, time.monotonic()
        state_version["health"] += 1
    bus.publish_local(health_message(summary))
    return summary


def _spawn(coro: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _refresh_logged() -> None:
    try:
        await health_get(force=True)
    except Exception:
        logger.exception("health refresh failed")


async def _tick() -> None:
    """Refresh (and so broadcast) every interval while this process has connections."""
    while bus.subscribers():
        await asyncio.sleep(settings.GATEWAY_HEALTH_REFRESH_S)
        if bus.subscribers():
            await _refresh_logged()


def health_after_connect() -> dict[str, Any] | None:
    """Start the refresh timer if needed and refresh in the background after a connect.

    Call on the event loop once the connection is attached to the bus. Returns None when a
    refresh was started (its broadcast reaches the new connection too), else the cached
    summary to send to the new connection alone (None when there is none yet).
    """
    global _ticker, _connect_refresh_at  # noqa: PLW0603
    loop = asyncio.get_running_loop()
    # A timer of another (closed) loop never fires: tests and embedded restarts.
    if _ticker is None or _ticker.done() or _ticker.get_loop() is not loop:
        _ticker = loop.create_task(_tick())
    now = time.monotonic()
    window = settings.GATEWAY_HEALTH_CONNECT_REFRESH_S
    if _connect_refresh_at is not None and now - _connect_refresh_at < window:
        return _health
    _connect_refresh_at = now
    _spawn(_refresh_logged())
    return None


def health_reset() -> None:
    """Forget the cached summary and when a connect last refreshed it (tests)."""
    global _health, _health_at, _connect_refresh_at
    _health, _health_at, _connect_refresh_at = None, 0.0, None
