"""Team mode for the benchmarks: PostgreSQL + Redis settings, migrations, a Celery worker.

A team gateway only serves sockets; a separate ``celery -A openclaw_site worker`` runs the
turns, and the run's events reach the gateway over Redis. The worker is started as the
documented team worker is (``docker/compose.yml``: threads pool, the three queues).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import IO

from bench._proc import REPO

# A fixed key: the benchmark's database may be reused, and rows it encrypted stay readable.
ENCRYPTION_KEY = "YmVuY2gtb25seS1rZXktYmVuY2gtb25seS1rZXktMDE="
WORKER_CONCURRENCY = 4


def team_urls(database_url: str | None, redis_url: str | None) -> tuple[str, str]:
    """The PostgreSQL and Redis URLs from the flags or the environment, or a clear error."""
    db = database_url or os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")
    redis = redis_url or os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL")
    if not db or not db.startswith("postgres"):
        raise SystemExit(
            "--team needs a PostgreSQL database: pass --database-url postgres://... "
            "(or set BENCH_DATABASE_URL)"
        )
    if not redis or not redis.startswith("redis"):
        raise SystemExit(
            "--team needs Redis: pass --redis-url redis://host:port/db (or set BENCH_REDIS_URL)"
        )
    return db, redis


def team_env(env: dict[str, str], *, database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **env,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": "bench-secret-" + "b" * 40,
        "OPENCLAW_ENCRYPTION_KEY": ENCRYPTION_KEY,
    }


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")


def start_worker(
    env: dict[str, str], log: IO[bytes], profile: str | None = None
) -> subprocess.Popen[bytes]:
    """A Celery worker on the default, llm and connectors queues (threads pool)."""
    return subprocess.Popen(
        [
            sys.executable,
            *(["-m", "cProfile", "-o", profile] if profile else []),
            "-m",
            "celery",
            "-A",
            "openclaw_site",
            "worker",
            "--pool",
            "threads",
            "-c",
            str(WORKER_CONCURRENCY),
            "-Q",
            "default,llm,connectors",
            "-l",
            "warning",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"bench-{uuid.uuid4().hex[:8]}@%h",
        ],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def worker_log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-4000:]
    except OSError:
        return ""
