"""Team mode for real: a gateway process and a separate Celery worker on PostgreSQL + Redis.

The gateway only serves; the run is executed by `celery -A openclaw_site worker`, and its
events reach the socket through the Redis channel layer. An idle socket stays open past
redis-py 8's 5 s default socket timeout (a trap measured on this machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.gateway_process import REPO, TEAM_TOKEN, GatewayProcess, child_env, run_manage

pytestmark = [pytest.mark.process, pytest.mark.services]

TOKEN = TEAM_TOKEN


def _team_env(services: dict[str, str], data: Path) -> dict[str, str]:
    return child_env(
        data,
        DATABASE_URL=services["DATABASE_URL"],
        REDIS_URL=services["REDIS_URL"],
        DJANGO_SECRET_KEY="team-secret-" + "s" * 40,
        OPENCLAW_ENCRYPTION_KEY="dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM=",
        OPENCLAW_GATEWAY_TOKEN=TOKEN,
        OPENCLAW_TICK_INTERVAL_MS="2000",
    )


async def _connect(port: int) -> Any:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/")
    await ws.recv()
    await ws.send(
        json.dumps(
            {
                "type": "req",
                "id": "c",
                "method": "connect",
                "params": {
                    "minProtocol": 4,
                    "maxProtocol": 4,
                    "client": {"id": "cli", "version": "t", "platform": "linux", "mode": "cli"},
                    "auth": {"token": TOKEN},
                    "role": "operator",
                    "scopes": ["operator.read", "operator.write"],
                },
            }
        )
    )
    hello = json.loads(await ws.recv())
    assert hello["ok"], hello
    return ws


def test_a_chat_turn_runs_on_a_separate_worker_and_idle_sockets_stay_open(
    services: dict[str, str], tmp_path: Path
) -> None:
    env = _team_env(services, tmp_path / "data")
    assert run_manage("migrate", "-v0", env=env).returncode == 0
    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "openclaw_site", "worker", "--pool", "threads",
         "-c", "2", "-Q", "default,llm,connectors", "-l", "warning", "--without-heartbeat",
         "--without-mingle", "--without-gossip", "-n", f"test-{uuid.uuid4().hex[:8]}@%h"],
        cwd=REPO, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    gw = GatewayProcess(env)
    try:
        gw.start()  # inside the try: a gateway that fails to start must not leave the worker

        async def scenario() -> tuple[list[dict[str, Any]], int, bool]:
            idle = await _connect(gw.port)
            ws = await _connect(gw.port)
            key = f"agent:main:team-{uuid.uuid4().hex[:6]}"
            await ws.send(
                json.dumps(
                    {
                        "type": "req",
                        "id": "s",
                        "method": "chat.send",
                        "params": {
                            "sessionKey": key,
                            "message": "hi team",
                            "idempotencyKey": uuid.uuid4().hex,
                        },
                    }
                )
            )
            events: list[dict[str, Any]] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if frame.get("event") == "chat":
                    events.append(frame["payload"])
                    if frame["payload"]["state"] in ("final", "error"):
                        break
            # The idle socket saw ticks and is still open after 12 s without a request.
            ticks = 0
            idle_deadline = time.monotonic() + 12
            while time.monotonic() < idle_deadline:
                try:
                    frame = json.loads(await asyncio.wait_for(idle.recv(), 3))
                except TimeoutError:
                    continue
                ticks += frame.get("event") == "tick"
            await idle.send(json.dumps({"type": "req", "id": "h", "method": "health"}))
            answer = json.loads(await asyncio.wait_for(idle.recv(), 5))
            while answer.get("type") != "res":
                answer = json.loads(await asyncio.wait_for(idle.recv(), 5))
            await ws.close()
            await idle.close()
            return events, ticks, answer["ok"]

        events, ticks, idle_ok = asyncio.run(scenario())
    finally:
        gw.stop()
        worker.terminate()
        worker.wait(timeout=15)
        worker_log.close()
    log = (tmp_path / "worker.log").read_text()
    assert events, f"no chat events reached the socket; worker log:\n{log}"
    assert events[-1]["state"] == "final", events[-1]
    assert "hi team" in events[-1]["message"]["content"][0]["text"]
    assert ticks >= 3
    assert idle_ok
    assert "team mode" in gw.stdout
    assert os.path.exists(tmp_path / "worker.log")
