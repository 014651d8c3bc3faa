"""Read use-cases of the gateway app."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count

from agents import selectors as agent_selectors
from agents.heartbeat_selectors import heartbeat_summaries
from agents.models import Run
from channels_app import selectors as channel_selectors
from core.clock import now_ms
from gateway.catalog.wire import ms
from gateway.models import ConfigEntry
from sessions_app.models import Session


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    latency_ms: float
    error: str = ""


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, CheckResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks.values())

    @property
    def down(self) -> list[str]:
        """The names of the checks that failed (``database``, ``redis``)."""
        return [name for name, check in self.checks.items() if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": "ready" if self.ok else "not-ready",
            "down": self.down,
            "checks": {
                name: {
                    "ok": c.ok,
                    "latencyMs": round(c.latency_ms, 2),
                    **({"error": c.error} if c.error else {}),
                }
                for name, c in self.checks.items()
            },
        }


def _timed(fn: Any) -> CheckResult:
    started = time.perf_counter()
    try:
        fn()
    except Exception as exc:
        return CheckResult(False, (time.perf_counter() - started) * 1000, type(exc).__name__)
    return CheckResult(True, (time.perf_counter() - started) * 1000)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis() -> None:
    import redis  # noqa: PLC0415  (team mode only: embedded mode never loads the client)

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def readiness() -> Readiness:
    """Return whether the database and, when configured, Redis answer.

    Each check is a round trip (``SELECT 1``, ``PING``) that fails within seconds: the
    database's ``connect_timeout`` (5 s on PostgreSQL), 2 s for Redis. A failed check says
    only the exception's type: ``/ready`` answers anyone, and the message would show
    addresses. Both checks always run, so the answer names every part that is down.
    """
    checks = {"database": _timed(_check_database)}
    if settings.REDIS_URL:
        checks["redis"] = _timed(_check_redis)
    return Readiness(checks)


def session_counts_by_agent() -> dict[str, int]:
    """How many sessions each agent has (by agent id)."""
    # Belongs in sessions_app.selectors; here until that module offers it.
    rows = Session.objects.order_by().values_list("agent_slug").annotate(n=Count("pk"))
    return dict(rows)


def sessions_recent(*, limit: int = 5) -> list[tuple[str, str, datetime | None]]:
    """``(key, agent id, last activity)`` of the most recently active sessions."""
    rows = Session.objects.recent().values_list("key", "agent_slug", "last_activity_at")
    return list(rows[:limit])


def health_summary() -> dict[str, Any]:
    """Return OpenClaw's HealthSummary: agents, sessions and channels (one short query set)."""
    agents = agent_selectors.agent_rows()
    default_id = agent_selectors.default_slug_of(agents)
    heartbeats = heartbeat_summaries()
    now = now_ms()
    recent = []
    for key, _agent, updated in sessions_recent():
        updated_ms = ms(updated)
        recent.append(
            {
                "key": key,
                "updatedAt": updated_ms,
                "age": None if updated_ms is None else now - updated_ms,
            }
        )
    per_agent = session_counts_by_agent()
    sessions = {"path": "database", "count": sum(per_agent.values()), "recent": recent}
    channels: dict[str, Any] = {}
    for account in channel_selectors.channel_accounts():
        entry = channels.setdefault(account.kind, {"accounts": {}})
        entry["accounts"][account.account_id] = {
            "accountId": account.account_id,
            "enabled": account.enabled,
            "configured": True,
            "mode": account.mode,
            "lastError": account.last_error or None,
        }
    return {
        "ok": True,
        "ts": now,
        "durationMs": 0,
        "channels": channels,
        "channelOrder": sorted(channels),
        "channelLabels": {kind: kind.capitalize() for kind in channels},
        "heartbeatSeconds": (heartbeats.get(default_id or "", {}).get("everyMs") or 0) // 1000,
        "defaultAgentId": default_id,
        "agents": [
            {
                "agentId": agent.slug,
                "name": agent.name or None,
                "isDefault": agent.slug == default_id,
                "heartbeat": heartbeats.get(agent.slug, {"enabled": False}),
                "sessions": {
                    "path": "database",
                    "count": per_agent.get(agent.slug, 0),
                    "recent": [
                        r for r in recent if str(r["key"]).startswith(f"agent:{agent.slug}:")
                    ],
                },
            }
            for agent in agents
        ],
        "sessions": sessions,
        # Keys OpenClaw 2026.9.6's clients read; we have no plugins or hot reload.
        "plugins": {"loaded": [], "errors": [], "unavailable": []},
        "configReload": {"hotReloadStatus": "inactive"},
        "modelRuntime": {"degraded": False, "pendingAgents": []},
        "eventLoop": {"degraded": False, "degradedSinceMs": None, "reasons": []},
    }


def config_entry_value(path: str) -> Any:
    """Return the stored value of a gateway config path, or None when unset."""
    return ConfigEntry.objects.filter(path=path).values_list("value", flat=True).first()


def run_counts_by_agent() -> dict[str, dict[str, int]]:
    """Queued and running runs per agent id (one query), for ``diagnostics.lanes``."""
    counts: dict[str, dict[str, int]] = {}
    rows = (
        Run.objects.filter(status__in=(Run.Status.QUEUED, Run.Status.RUNNING))
        .order_by()
        .values_list("agent__slug", "status")
        .annotate(n=Count("pk"))
    )
    for slug, status, n in rows:
        entry = counts.setdefault(slug, {"queued": 0, "running": 0})
        entry["running" if status == Run.Status.RUNNING else "queued"] += n
    return counts
