"""Two cron dispatchers in two OS processes on one PostgreSQL database never run a slot twice.

Each process claims due jobs by compare-and-set on ``next_run_at`` in a tight loop (as two
gateways' ticks, or a gateway and a ``celery beat``, would) and starts what it claimed.
Afterwards every (job, slot) has exactly one run, every job ran about once a second, and
no run stayed unfinished.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.gateway_process import REPO, child_env, run_manage

pytestmark = [pytest.mark.process, pytest.mark.services]

JOBS = 20
SECONDS = 6.0


def _dispatcher(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.cron_dispatcher", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_two_dispatcher_processes_never_run_a_slot_twice(
    services: dict[str, str], tmp_path: Path
) -> None:
    env = child_env(
        tmp_path / "data",
        DATABASE_URL=services["DATABASE_URL"],
        DJANGO_SECRET_KEY="cron-secret-" + "s" * 40,
        OPENCLAW_ENCRYPTION_KEY="dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM=",
    )
    migrated = run_manage("migrate", "-v0", env=env, timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    setup = _dispatcher(env, "--setup", str(JOBS))
    assert setup.wait(timeout=120) == 0, setup.stderr.read() if setup.stderr else ""

    try:
        claims = _race(env)
        _check(services["DATABASE_URL"], claims)
    finally:
        # The database outlives the run: leave no job due every second behind.
        with psycopg.connect(services["DATABASE_URL"]) as db:
            db.execute("DELETE FROM agents_cronrun WHERE job_name LIKE 'cas-%%'")
            db.execute("DELETE FROM agents_cronjob WHERE name LIKE 'cas-%%'")


def _race(env: dict[str, str]) -> list[list[int]]:
    pair = [_dispatcher(env, "--seconds", str(SECONDS)) for _ in range(2)]
    claims = []
    for proc in pair:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        claims.append(json.loads(out.strip().splitlines()[-1])["claims"])
    return claims


def _check(url: str, claims: list[list[int]]) -> None:
    assert not set(claims[0]) & set(claims[1])
    with psycopg.connect(url) as db:
        twice = db.execute(
            "SELECT job_public_id, scheduled_for, count(*) FROM agents_cronrun "
            "WHERE job_name LIKE 'cas-%%' GROUP BY 1, 2 HAVING count(*) > 1"
        ).fetchall()
        per_job: dict[str, int] = dict(
            db.execute(
                "SELECT job_name, count(*) FROM agents_cronrun WHERE job_name LIKE 'cas-%%' "
                "GROUP BY 1"
            ).fetchall()
        )
        cas_runs = {
            pk
            for (pk,) in db.execute(
                "SELECT id FROM agents_cronrun WHERE job_name LIKE 'cas-%%'"
            ).fetchall()
        }
        statuses: dict[str, int] = dict(
            db.execute(
                "SELECT status, count(*) FROM agents_cronrun WHERE job_name LIKE 'cas-%%' "
                "GROUP BY 1"
            ).fetchall()
        )
    assert twice == []
    assert len(per_job) == JOBS
    # The jobs are due from 2 s after setup, once a second, for the ~6 s both processes ran.
    assert all(2 <= count <= SECONDS + 1 for count in per_job.values()), per_job
    assert set(statuses) == {"ok"}, statuses
    # Every run of these jobs was claimed by one of the two (the database is shared with
    # other tests: a gateway's heartbeat job that fell due meanwhile may be claimed too).
    assert cas_runs <= set(claims[0]) | set(claims[1])
    assert sum(statuses.values()) == len(cas_runs)
    # Both took part (a process that never won a claim would prove nothing).
    assert set(claims[0]) & cas_runs
    assert set(claims[1]) & cas_runs
