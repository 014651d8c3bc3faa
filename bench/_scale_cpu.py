"""CPU accounting for bench/team_scale.py: who spent the machine's cores during a window.

The groups are the topology's processes (gateways, workers, beat), the shared servers
(the ``redis-server`` that listens on the Redis URL's port, every ``postgres`` process)
and the fakes, plus ``postgres_ours``: the backends connected to the benchmark's own
database (part of ``postgres``); ``machine_busy`` is the whole machine (``/proc/stat``), so ``other`` shows
what ran besides (the load generators, and anything else on the machine: PostgreSQL and
Redis are shared, and their CPU counts every client's work, not only ours).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench._proc import CLK_TCK, cpu_seconds

Snapshot = dict[str, float]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _own_and_reaped_seconds(pid: int) -> float:
    """utime + stime of ``pid``, plus cutime + cstime: the CPU of children it reaped
    (PostgreSQL backends that ended during the window count in the postmaster's)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def redis_pids(redis_url: str) -> list[int]:
    """The ``redis-server`` processes listening on the Redis URL's port."""
    port = urlsplit(redis_url).port or 6379
    return [
        pid
        for pid in _pids()
        if _comm(pid).startswith("redis-server") and f":{port}" in _cmdline(pid)
    ]


def postgres_postmasters() -> list[int]:
    """The PostgreSQL postmasters: ``postgres`` processes whose parent is not one."""
    found = []
    for pid in _pids():
        if _comm(pid) != "postgres":
            continue
        fields = _stat_fields(pid)
        if fields is not None and _comm(int(fields[1])) != "postgres":
            found.append(pid)
    return found


def postgres_seconds(postmasters: list[int], database: str) -> tuple[float, float]:
    """CPU of every PostgreSQL process (the live backends and helpers, the postmaster, and
    the backends it reaped: its cutime/cstime), and of the live backends connected to
    ``database`` alone (a backend's title names its database)."""
    total = ours = 0.0
    for pid in _pids():
        fields = _stat_fields(pid)
        if fields is None or _comm(pid) != "postgres":
            continue
        if pid in postmasters:
            total += _own_and_reaped_seconds(pid)
        elif int(fields[1]) in postmasters:
            seconds = (int(fields[11]) + int(fields[12])) / CLK_TCK
            total += seconds
            title = _cmdline(pid).split()
            if len(title) > 3 and title[3] == database:  # postgres: 15/main: <user> <db>
                ours += seconds
    return total, ours


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    steal = values[7] if len(values) > 7 else 0
    return (sum(values[:8]) - idle - steal) / CLK_TCK


def snapshot(
    groups: Mapping[str, list[int]],
    *,
    redis: list[int],
    postmasters: list[int],
    database: str,
    extra: Mapping[str, Callable[[], float]] | None = None,
) -> Snapshot:
    """CPU seconds so far of each group (process trees), the servers and the machine."""
    out = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}
    out["redis"] = sum(_own_and_reaped_seconds(pid) for pid in redis)
    out["postgres"], out["postgres_ours"] = postgres_seconds(postmasters, database)
    for name, probe in (extra or {}).items():
        out[name] = probe()
    out["machine_busy"] = machine_busy_seconds()
    return out


APP = ("gateways", "workers", "beat")


def report(
    before: Snapshot, after: Snapshot, seconds: float, per: int, unit: str
) -> dict[str, Any]:
    """Deltas over a window: seconds, cores used, ms per ``unit`` and the shares."""
    delta = {k: max(0.0, after[k] - before[k]) for k in after}
    app = sum(delta.get(k, 0.0) for k in APP)
    servers = delta["redis"] + delta["postgres"]
    measured = sum(v for k, v in delta.items() if k not in ("machine_busy", "postgres_ours"))
    delta["other"] = max(0.0, delta["machine_busy"] - measured)
    return {
        "window_s": round(seconds, 2),
        "cpu_s": {k: round(v, 2) for k, v in delta.items()},
        "cores_used": {k: round(v / seconds, 2) for k, v in delta.items()} if seconds else {},
        f"cpu_ms_per_{unit}": {k: round(1000 * v / per, 2) for k, v in delta.items()}
        if per
        else {},
        # Redis and PostgreSQL against the gateways + workers + beat they serve.
        "redis_vs_app": round(delta["redis"] / app, 3) if app else None,
        "postgres_vs_app": round(delta["postgres"] / app, 3) if app else None,
        "postgres_ours_vs_app": round(delta["postgres_ours"] / app, 3) if app else None,
        # Their share of the system under test (app + the two servers).
        "redis_share": round(delta["redis"] / (app + servers), 3) if app + servers else None,
        "postgres_share": round(delta["postgres"] / (app + servers), 3) if app + servers else None,
    }
