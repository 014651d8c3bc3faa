"""Run ``manage.py gateway`` as a real process for tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# The team-mode tests share one PostgreSQL database that outlives test runs. A changed
# OPENCLAW_GATEWAY_TOKEN revokes the previous one there, and a revoked value can never
# come back: one fresh value per test run, shared by every team-mode test.
TEAM_TOKEN = "team-" + secrets.token_hex(20)
# Settings that must not leak from the developer's shell or the test plugin into a child.
_SCRUBBED = (
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_SECRET_KEY",
    "OPENCLAW_ENCRYPTION_KEY",
    "OPENCLAW_GATEWAY_TOKEN",
    "OPENCLAW_DEPLOYMENT",
    "DJANGO_DEBUG",
    "DJANGO_SETTINGS_MODULE",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["OPENCLAW_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_manage(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class GatewayProcess:
    """A live gateway on a free loopback port; stop() sends SIGTERM and collects output."""

    def __init__(self, env: dict[str, str], *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = env
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.stdout = ""
        self.stderr = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True, timeout: float = 30) -> GatewayProcess:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "manage.py"),
                "gateway",
                "--port",
                str(self.port),
                *self.args,
            ],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stdout, self.stderr = self.proc.communicate()
                raise AssertionError(
                    f"gateway exited with {self.proc.returncode}:\n{self.stdout}\n{self.stderr}"
                )
            try:
                self.get("/health")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise AssertionError("gateway did not answer /health in time")

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> float:
        """Signal the process, wait for it, return how long it took to exit."""
        assert self.proc is not None
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.stdout += out
        self.stderr += err
        return time.monotonic() - started

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
