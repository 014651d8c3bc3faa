"""Read use-cases of the gateway app."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection


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
