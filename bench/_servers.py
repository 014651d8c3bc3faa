"""Starting and stopping the servers the benchmarks measure, and their process limits."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench._proc import REPO, wait_http

SCRUB = ("DATABASE_URL", "REDIS_URL", "OPENCLAW_GATEWAY_TOKEN", "DJANGO_SETTINGS_MODULE")
WANT_NOFILE = 65536


def raise_nofile() -> int:
    """Raise the soft open-files limit to the hard limit (capped); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = WANT_NOFILE if hard == resource.RLIM_INFINITY else min(WANT_NOFILE, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return WANT_NOFILE if soft == resource.RLIM_INFINITY else soft


def nofile_of(pid: int) -> int:
    """The soft open-files limit of another process (children inherit ours)."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            value = line.split()[3]
            return WANT_NOFILE if value == "unlimited" else int(value)
    raise RuntimeError(f"no open-files limit for pid {pid}")


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SCRUB}


@contextlib.contextmanager
def spawn(cmd: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[int]:
    """Start a server, wait until ``/health`` answers, yield its pid; always stop it."""
    with log.open("wb") as err:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL
        )
        try:
            try:
                wait_http(f"http://127.0.0.1:{port}/health", proc)
            except RuntimeError as exc:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{cmd[1:4]} did not start: {exc}\n{tail}") from None
            yield proc.pid
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def gateway_cmd(port: int) -> list[str]:
    return [sys.executable, "manage.py", "gateway", "--port", str(port)]


def daphne_cmd(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "bench.bare_channels.asgi:application",
    ]


def uvicorn_cmd(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare_channels.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ws",
        "websockets-sansio",
        "--http",
        "httptools",
        "--log-level",
        "warning",
    ]
