"""Read use-cases of the gateway app."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": "ready" if self.ok else "not-ready",
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
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def readiness() -> Readiness:
    """Return whether the database and, when configured, Redis answer."""
    checks = {"database": _timed(_check_database)}
    if settings.REDIS_URL:
        checks["redis"] = _timed(_check_redis)
    return Readiness(checks)


def health_summary() -> dict[str, Any]:
    """Return OpenClaw's HealthSummary: agents, sessions and channels (one short query set)."""
    from agents.models import Agent
    from channels_app.models import ChannelAccount
    from sessions_app.models import Session

    agents = list(Agent.objects.default_first().values("slug", "name", "is_default"))
    default_id = agents[0]["slug"] if agents else "main"
    recent = [
        {
            "key": key,
            "updatedAt": int(updated.timestamp() * 1000) if updated else None,
            "age": int((time.time() - updated.timestamp()) * 1000) if updated else None,
        }
        for key, updated in Session.objects.recent().values_list("key", "last_activity_at")[:5]
    ]
    per_agent = dict(Session.objects.order_by().values_list("agent_slug").annotate(n=Count("pk")))
    sessions = {"path": "database", "count": sum(per_agent.values()), "recent": recent}
    channels: dict[str, Any] = {}
    for account in ChannelAccount.objects.order_by("kind", "account_id").values(
        "kind", "account_id", "enabled", "mode", "last_error"
    ):
        entry = channels.setdefault(account["kind"], {"accounts": {}})
        entry["accounts"][account["account_id"]] = {
            "accountId": account["account_id"],
            "enabled": account["enabled"],
            "configured": True,
            "mode": account["mode"],
            "lastError": account["last_error"] or None,
        }
    return {
        "ok": True,
        "ts": int(time.time() * 1000),
        "durationMs": 0,
        "channels": channels,
        "channelOrder": sorted(channels),
        "channelLabels": {kind: kind.capitalize() for kind in channels},
        "heartbeatSeconds": 0,
        "defaultAgentId": default_id,
        "agents": [
            {
                "agentId": a["slug"],
                "name": a["name"] or None,
                "isDefault": a["slug"] == default_id,
                "heartbeat": {"enabled": False},
                "sessions": {
                    "path": "database",
                    "count": per_agent.get(a["slug"], 0),
                    "recent": [
                        r for r in recent if str(r["key"]).startswith(f"agent:{a['slug']}:")
                    ],
                },
            }
            for a in agents
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
    from gateway.models import ConfigEntry

    return ConfigEntry.objects.filter(path=path).values_list("value", flat=True).first()
