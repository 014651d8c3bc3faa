"""Cost of one cron tick (``agents.services.cron.cron_tick``) with 10,000 enabled jobs.

In this process, on a fresh database (SQLite in a temporary data dir, or PostgreSQL with
``--database-url``): migrates, creates 10,000 enabled ``every`` jobs whose next runs are
spread over the coming day, then times

- a tick with none due (median and p90 of 50): finish runs that ended, heal, find due;
- a tick with 10 due (median and p90 of 20): the same plus 10 claims by compare-and-set,
  10 ``CronRun`` rows and 10 task messages (handed to a no-op sender: the broker publish
  is not measured); between samples the 10 jobs are made due again.

It also reports whether the due query uses the ``cronjob_due_idx`` index (the database's
own query plan). Target: each tick within 50 ms. Prints one JSON line.
Usage: .venv/bin/python bench/cron_dispatch.py [--jobs 10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MS = 50.0


def _setup(data_dir: Path, database_url: str | None) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["OPENCLAW_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "openclaw_site.settings"
    os.environ.pop("REDIS_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (
        round(statistics.median(ordered), 2),
        round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 2),
    )


def _uses_index() -> bool:
    from django.db import connection
    from django.utils import timezone

    from agents.models import CronJob

    query = CronJob.objects.filter(
        enabled=True, next_run_at__lte=timezone.now(), running_at__isnull=True
    ).order_by("next_run_at")[:100]
    plan = query.explain()
    return "cronjob_due_idx" in plan or (connection.vendor != "sqlite" and "Index" in plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cron-bench-") as tmp:
        _setup(Path(tmp) / "data", args.database_url)
        print(json.dumps(run(jobs=args.jobs)))


def run(*, jobs: int) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from agents.models import CronJob, CronRun
    from agents.runtime import enqueue
    from agents.services.cron import cron_tick

    enqueue.send = lambda *a, **k: None  # no broker publish (see the docstring)
    CronRun.objects.all().delete()
    CronJob.objects.all().delete()
    now = timezone.now()
    CronJob.objects.bulk_create(
        [
            CronJob(
                name=f"job {n}",
                schedule_kind="every",
                every_ms=86_400_000,
                anchor_at=now,
                session_target="main",
                wake_mode="next-heartbeat",
                payload={"kind": "systemEvent", "text": "tick"},
                next_run_at=now + timedelta(seconds=60 + n * 8),
            )
            for n in range(jobs)
        ],
        batch_size=2000,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE agents_cronjob")
    first_ten = list(CronJob.objects.order_by("next_run_at").values_list("pk", flat=True)[:10])

    def timed_tick() -> float:
        started = time.perf_counter()
        cron_tick(now=timezone.now())
        return (time.perf_counter() - started) * 1000

    for _ in range(5):
        timed_tick()
    idle = [timed_tick() for _ in range(50)]
    busy = []
    for _ in range(20):
        CronRun.objects.all().delete()
        CronJob.objects.filter(pk__in=first_ten).update(
            next_run_at=timezone.now() - timedelta(seconds=1), running_at=None
        )
        busy.append(timed_tick())
    claimed = CronRun.objects.count()
    idle_p50, idle_p90 = _percentiles(idle)
    busy_p50, busy_p90 = _percentiles(busy)
    return {
        "bench": "cron_dispatch",
        "database": connection.vendor,
        "enabled_jobs": CronJob.objects.filter(enabled=True).count(),
        "tick_none_due_ms_p50": idle_p50,
        "tick_none_due_ms_p90": idle_p90,
        "tick_10_due_ms_p50": busy_p50,
        "tick_10_due_ms_p90": busy_p90,
        "claimed_per_due_tick": claimed,
        "due_query_uses_index": _uses_index(),
        "target_ms": TARGET_MS,
        "meets_target": max(idle_p90, busy_p90) <= TARGET_MS,
    }


if __name__ == "__main__":
    main()
