"""Cluster nodes for real: Celery workers on PostgreSQL + Redis register and heartbeat,
tasks needing a skill reach a worker having it, a second process under a live id is
refused, a SIGKILLed worker goes offline once silent past the (shortened) timeout and
its id is taken over, and a clean stop is offline at once. Read through the gateway's
HTTP API, as an operator would."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import REPO, TEAM_TOKEN, GatewayProcess, child_env, run_manage

pytestmark = [pytest.mark.process, pytest.mark.services]

# Heartbeat every second, offline after 3 s silent, checked every second.
FAST = {
    "OPENCLAW_NODE_HEARTBEAT_S": "1",
    "OPENCLAW_NODE_OFFLINE_AFTER_S": "3",
    "OPENCLAW_NODE_CHECK_S": "1",
}
WAIT_S = 60.0


def _env(services: dict[str, str], data: Path, **extra: str) -> dict[str, str]:
    return child_env(
        data,
        DATABASE_URL=services["DATABASE_URL"],
        REDIS_URL=services["REDIS_URL"],
        DJANGO_SECRET_KEY="team-secret-" + "s" * 40,
        OPENCLAW_ENCRYPTION_KEY="dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM=",
        OPENCLAW_GATEWAY_TOKEN=TEAM_TOKEN,
        **FAST,
        **extra,
    )


class Processes:
    """Celery workers and beat started by the test, each logging to its own file."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "openclaw_site", *args],
                cwd=REPO, env={**self.env, **env}, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.procs.append(proc)
        return proc, log

    def worker(
        self, name: str, *, node_id: str, queues: str, skills: str = ""
    ) -> tuple[subprocess.Popen[bytes], Path]:
        return self.start(
            name,
            "worker", "--pool", "threads", "-c", "2", "-Q", queues, "-l", "info",
            "--without-heartbeat", "--without-mingle", "--without-gossip",
            "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h",
            OPENCLAW_NODE_ID=node_id, OPENCLAW_NODE_SKILLS=skills,
        )  # fmt: skip

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=15)


def _api(port: int, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TEAM_TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (http://127.0.0.1)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait(what: str, ready: Callable[[], Any], logs: list[Path]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.2)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
    pytest.fail(f"timed out waiting for {what}\n{tails}")


@pytest.fixture
def team(services: dict[str, str], tmp_path: Path) -> Iterator[tuple[GatewayProcess, Processes]]:
    env = _env(services, tmp_path / "data")
    migrated = run_manage("migrate", "-v0", env=env, timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    processes = Processes(env, tmp_path)
    gw = GatewayProcess(env).start()
    try:
        yield gw, processes
    finally:
        processes.stop_all()
        gw.stop()


def test_worker_nodes_register_route_refuse_duplicates_and_expire(
    team: tuple[GatewayProcess, Processes], tmp_path: Path
) -> None:
    gw, procs = team
    run = uuid.uuid4().hex[:8]
    a_id, b_id = f"nodes-{run}-a", f"nodes-{run}-b"
    a, a_log = procs.worker("a", node_id=a_id, queues="llm", skills="python")
    b, b_log = procs.worker("b", node_id=b_id, queues="default,connectors", skills="browser")
    logs = [a_log, b_log]

    def health(node_id: str) -> tuple[int, Any]:
        return _api(gw.port, f"/api/v1/nodes/{node_id}/health")

    def online(*node_ids: str) -> bool:
        return all(health(node_id)[0] == 200 for node_id in node_ids)

    _wait("a and b online", lambda: online(a_id, b_id), logs)

    # Registered with its host, pid, queues + declared skills and concurrency.
    status, listed = _api(gw.port, "/api/v1/nodes")
    assert status == 200
    mine = {n["node_id"]: n for n in listed["nodes"] if n["node_id"] in (a_id, b_id)}
    assert (mine[a_id]["host"], mine[a_id]["pid"]) == (socket.gethostname(), a.pid)
    assert (mine[a_id]["skills"], mine[a_id]["queues"]) == (["llm", "python"], ["llm", "skill.python"])  # fmt: skip
    assert mine[b_id]["skills"] == ["browser", "connectors", "default"]
    assert (mine[a_id]["max_concurrent_tasks"], mine[a_id]["status"]) == (2, "online")
    first_beat = mine[a_id]["last_heartbeat_at"]
    _wait("a later heartbeat", lambda: health(a_id)[1]["last_heartbeat_at"] != first_beat, logs)
    _, browser = _api(gw.port, "/api/v1/nodes/skills/browser")
    assert [n["node_id"] for n in browser["nodes"] if n["node_id"].startswith(f"nodes-{run}")] == [
        b_id
    ]
    _, cluster = _api(gw.port, "/api/v1/cluster/health")
    assert cluster["online_nodes"] >= 2
    assert cluster["total_capacity"] >= 4

    # A task needing a skill goes to a worker having it, and to no other. The task is the
    # node sweep, which names in its worker's log the stale node it finds: one made here.
    def enqueue(skill: str, stale: str) -> subprocess.CompletedProcess[str]:
        code = (
            "from datetime import timedelta; from django.utils import timezone; "
            "from gateway.models import Node; from gateway.nodes import enqueue_for_skill; "
            f"Node.objects.create(node_id={stale!r}, "
            "last_heartbeat_at=timezone.now() - timedelta(hours=1)); "
            f"print(enqueue_for_skill('gateway.node_sweep', skill={skill!r}))"
        )
        return run_manage("shell", "--no-imports", "-c", code, env=procs.env)

    def swept(log: Path, stale: str) -> bool:
        return f"node {stale} is offline" in log.read_text()

    routed = enqueue("browser", f"nodes-{run}-stale-1")
    assert (routed.returncode, routed.stdout.strip()) == (0, "skill.browser"), routed.stderr
    _wait("the browser task on b", lambda: swept(b_log, f"nodes-{run}-stale-1"), logs)
    routed = enqueue("python", f"nodes-{run}-stale-2")
    assert routed.stdout.strip() == "skill.python", routed.stderr
    _wait("the python task on a", lambda: swept(a_log, f"nodes-{run}-stale-2"), logs)
    assert not swept(a_log, f"nodes-{run}-stale-1")
    assert not swept(b_log, f"nodes-{run}-stale-2")
    missing = enqueue("gpu", f"nodes-{run}-stale-3")
    assert missing.returncode != 0
    assert "no online node has the skill 'gpu'" in missing.stderr
    assert "start a worker with OPENCLAW_NODE_SKILLS=gpu" in missing.stderr

    # A second process under a live node's id is refused: exit 2, one line saying why.
    dup, dup_log = procs.worker("dup", node_id=a_id, queues="llm")
    assert dup.wait(timeout=WAIT_S) == 2
    errors = [line for line in dup_log.read_text().splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert re.fullmatch(
        rf"error: node id '{a_id}' is held by a live node \(pid {a.pid} on "
        rf"{re.escape(socket.gethostname())}, last heartbeat \d+ s ago\); stop that worker, "
        r"or give this one another OPENCLAW_NODE_ID",
        errors[0],
    ), errors

    # Killed: offline once silent past the timeout, recorded by the node sweep (beat).
    procs.start("beat", "beat", "-l", "warning", "-s", str(tmp_path / "beat-schedule"))
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=15)
    _wait("a offline", lambda: health(a_id)[0] == 503, logs)
    _wait("the sweep recording it", lambda: f"node {a_id} is offline" in b_log.read_text(), logs)
    assert health(a_id)[1]["status"] == "offline"

    # Its id, now stale, is taken over by the next worker that claims it.
    a2, a2_log = procs.worker("a2", node_id=a_id, queues="llm", skills="python")
    logs.append(a2_log)
    _wait("a taken over", lambda: online(a_id), logs)
    _, listed = _api(gw.port, "/api/v1/nodes")
    assert [n["pid"] for n in listed["nodes"] if n["node_id"] == a_id] == [a2.pid]
    assert "taking over the id from a stale holder" in a2_log.read_text()

    # A clean stop takes the node offline at once (the stop marks it, not the timeout).
    b.send_signal(signal.SIGTERM)
    assert b.wait(timeout=WAIT_S) == 0
    assert f"node {b_id} stopped" in b_log.read_text()
    assert health(b_id)[0] == 503
