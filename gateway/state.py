"""Process-wide gateway state: presence entries, state versions, cached health.

``health`` answers from this cache and never touches the database per call; the cache
is rebuilt in one database call when older than 60 s (or on ``probe``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.db import database_sync_to_async

from gateway.lib.protocol import HEALTH_REFRESH_S
from gateway.scopes import READ, satisfies
from gateway.selectors import health_summary

STARTED_MONOTONIC = time.monotonic()
state_version = {"presence": 0, "health": 0}
presence: dict[str, dict[str, Any]] = {}

_health: dict[str, Any] | None = None
_health_at = 0.0
_health_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
_redacted: tuple[dict[str, Any], dict[str, Any]] | None = None


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


async def health_get(*, force: bool = False) -> dict[str, Any]:
    """Return the health summary, rebuilding it when stale or forced."""
    global _health, _health_at, _health_lock  # noqa: PLW0603
    if not force and _health is not None and time.monotonic() - _health_at < HEALTH_REFRESH_S:
        return _health
    loop = asyncio.get_running_loop()
    if _health_lock is None or _health_lock[0] is not loop:
        _health_lock = (loop, asyncio.Lock())  # a Lock belongs to one event loop
    async with _health_lock[1]:
        if not force and _health is not None and time.monotonic() - _health_at < HEALTH_REFRESH_S:
            return _health
        started = time.monotonic()
        summary = await database_sync_to_async(health_summary)()
        summary["durationMs"] = int((time.monotonic() - started) * 1000)
        _health, _health_at = summary, time.monotonic()
        state_version["health"] += 1
        return summary


def health_reset() -> None:
    """Forget the cached summary (tests)."""
    global _health, _health_at
    _health, _health_at = None, 0.0
