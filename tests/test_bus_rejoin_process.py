"""A team gateway keeps hearing its runs when Redis restarts or goes silent (issue 14).

Real processes: a ``redis-server`` of this test's own (no persistence, so a restart loses
everything, as the issue's deployment did), a team gateway (``manage.py gateway`` on the
shared PostgreSQL) and a Celery worker, the fake OpenAI server, and a real WebSocket
client. The gateway must subscribe again by itself after Redis comes back, and a client
whose run ended while the gateway could not hear must still get that run's ``final``,
once: the gateway re-announces it from the database (``gateway.bus_catchup``).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.fakes.llm_server import FakeServerProcess, Text
from tests.gateway_process import REPO, TEAM_TOKEN, GatewayProcess, child_env, run_manage
from tests.openclaw_client import OpenClawClient
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.process, pytest.mark.services]

SECRET_KEY = "team-secret-" + "s" * 40
ENCRYPTION_KEY = "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM="
TERMINAL = ("final", "error", "aborted")


class Worker:
    """The Celery worker, restarted when found dead as a supervisor would (compose's
    restart policy, systemd): Celery 5.7's worker exits when a task ends while the broker
    is away (kombu's ack on a closed channel), which is not this test's subject."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def ensure(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.proc is not None:
            self.restarts += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "openclaw_site", "worker", "--pool",
                 "threads", "-c", "2", "-Q", "default,llm,connectors", "-l", "warning",
                 "--without-heartbeat", "--without-mingle", "--without-gossip",
                 "-n", f"bus-{uuid.uuid4().hex[:8]}@%h"],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@dataclass
class Team:
    redis: RedisServer
    llm: FakeServerProcess
    gateway: GatewayProcess
    worker: Worker

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/"


@pytest.fixture(scope="module")
def team(
    services: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    skip_or_fail: Callable[[str], NoReturn],
) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("bus-rejoin")
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed (apt install redis-server)")
    server = RedisServer(root / "redis")
    llm = FakeServerProcess("openai")
    worker: Worker | None = None
    gateway: GatewayProcess | None = None
    try:
        server.start()
        llm.start()
        env = _env(root, services, server, llm)
        done = run_manage("migrate", "-v0", env=env)
        assert done.returncode == 0, done.stderr
        worker = Worker(env, root / "worker.log")
        worker.ensure()
        gateway = GatewayProcess(env)
        gateway.start()
        yield Team(server, llm, gateway, worker)
    finally:
        # Whatever was started is stopped, also when starting something else failed.
        if gateway is not None and gateway.proc is not None and gateway.proc.poll() is None:
            gateway.stop()
            sys.stderr.write(gateway.stderr[-4000:])  # shown when a test failed
        if worker is not None:
            worker.stop()
        llm.stop()
        server.stop()


def _env(
    root: Path, services: dict[str, str], server: RedisServer, llm: FakeServerProcess
) -> dict[str, str]:
    return child_env(
        root / "data",
        DATABASE_URL=services["DATABASE_URL"],
        REDIS_URL=server.url,
        DJANGO_SECRET_KEY=SECRET_KEY,
        OPENCLAW_ENCRYPTION_KEY=ENCRYPTION_KEY,
        OPENCLAW_GATEWAY_TOKEN=TEAM_TOKEN,
        OPENCLAW_MODEL="openai/gpt-4o-mini",
        OPENCLAW_MODEL_FALLBACKS="",
        OPENAI_BASE_URL=llm.base_url,
        OPENAI_API_KEY="sk-test-bus-rejoin",
        # A silent subscription is found within 2 s instead of 30 s.
        OPENCLAW_BUS_HEALTH_CHECK_S="1",
    )


@pytest.fixture
def team_up(team: Team) -> Team:
    """The team with its worker running and Redis answering."""
    proc = team.gateway.proc
    assert proc is not None
    assert proc.poll() is None, f"the gateway exited with {proc.returncode}"
    team.worker.ensure()
    return team


async def _client(team: Team) -> OpenClawClient:
    client = OpenClawClient(team.ws_url, timeout=30)
    await client.open()
    hello = await client.connect(token=TEAM_TOKEN, scopes=["operator.read", "operator.write"])
    assert hello["ok"], hello
    return client


async def _send(client: OpenClawClient, key: str, text: str) -> str:
    run_id = uuid.uuid4().hex
    res = await client.call(
        "chat.send", {"sessionKey": key, "message": text, "idempotencyKey": run_id}
    )
    assert res["ok"], res
    return run_id


def _ends(client: OpenClawClient, run_id: str) -> list[dict[str, Any]]:
    return [
        e["payload"]
        for e in client.events
        if e.get("event") == "chat"
        and e["payload"].get("runId") == run_id
        and e["payload"].get("state") in TERMINAL
    ]


async def _wait_end(client: OpenClawClient, run_id: str, wait_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if ends := _ends(client, run_id):
            return ends[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no chat final for {run_id} within {wait_s} s")


async def _wait_started(client: OpenClawClient, run_id: str) -> None:
    """A worker claimed the run: its first event reached the socket."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(e["payload"].get("runId") == run_id for e in client.events if "payload" in e):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} did not start")


async def _wait_reply_stored(client: OpenClawClient, key: str, text: str) -> None:
    """The run ended on the worker: its reply is in the transcript (read from PostgreSQL
    by the gateway, which answers RPCs while Redis is away)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        res = await client.call("chat.history", {"sessionKey": key})
        assert res["ok"], res
        for message in res["payload"]["messages"]:
            blocks = message.get("content") or []
            if message.get("role") == "assistant" and any(
                b.get("text") == text for b in blocks if isinstance(b, dict)
            ):
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the reply {text!r} never reached the transcript")


def test_after_a_redis_restart_the_gateway_hears_its_runs_again(team_up: Team) -> None:
    team = team_up

    async def scenario() -> None:
        client = await _client(team)
        try:
            key = f"agent:main:rejoin-{uuid.uuid4().hex[:6]}"
            before = await _wait_end(client, await _send(client, key, "before"), 30)
            assert before["state"] == "final", before
            team.redis.kill()
            team.redis.start()  # same port, empty: no subscription survives
            run_id = await _send(client, key, "after the restart")
            end = await _wait_end(client, run_id, 60)
            assert end["state"] == "final", end
            assert end["message"]["content"][0]["text"] == "echo: after the restart"
        finally:
            await client.close()

    asyncio.run(scenario())
    assert team.gateway.proc is not None
    assert team.gateway.proc.poll() is None  # the same gateway: it was not restarted


def test_a_run_that_ends_while_redis_is_down_still_reaches_the_waiting_client(
    team_up: Team,
) -> None:
    team = team_up
    team.llm.script(Text("a slow answer", chunks=4, delay_s=0.5))

    async def scenario() -> None:
        client = await _client(team)
        try:
            key = f"agent:main:catchup-{uuid.uuid4().hex[:6]}"
            run_id = await _send(client, key, "take your time")
            await _wait_started(client, run_id)
            team.redis.kill()
            await _wait_reply_stored(client, key, "a slow answer")
            assert _ends(client, run_id) == []  # its final went nowhere
            team.redis.start()
            end = await _wait_end(client, run_id, 60)
            assert end["state"] == "final", end
            assert end["message"]["content"][0]["text"] == "a slow answer"
            assert end["sessionKey"] == key
            await asyncio.sleep(3)
            assert len(_ends(client, run_id)) == 1  # never twice
        finally:
            await client.close()

    asyncio.run(scenario())


def test_a_subscription_lost_without_an_error_is_noticed_and_made_again(team_up: Team) -> None:
    """Redis frozen (SIGSTOP): no error and no FIN reach the gateway, only silence, as
    when a subscription is dropped behind its back; its PING goes unanswered."""
    team = team_up
    team.llm.script(Text("a frozen answer", chunks=4, delay_s=0.5))

    async def scenario() -> None:
        client = await _client(team)
        try:
            key = f"agent:main:frozen-{uuid.uuid4().hex[:6]}"
            run_id = await _send(client, key, "while frozen")
            await _wait_started(client, run_id)
            team.redis.signal(signal.SIGSTOP)
            try:
                await _wait_reply_stored(client, key, "a frozen answer")
                await asyncio.sleep(3)  # past the PING and its 1 s answer time
            finally:
                team.redis.signal(signal.SIGCONT)
            end = await _wait_end(client, run_id, 60)
            assert end["state"] == "final", end
            assert end["message"]["content"][0]["text"] == "a frozen answer"
            # And the gateway hears new runs on its new subscription.
            after = await _wait_end(client, await _send(client, key, "thawed"), 60)
            assert after["message"]["content"][0]["text"] == "echo: thawed"
            await asyncio.sleep(2)
            assert len(_ends(client, run_id)) == 1
        finally:
            await client.close()

    asyncio.run(scenario())
