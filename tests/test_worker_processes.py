"""An embedded gateway with worker processes (``OPENCLAW_WORKER_PROCESSES``), live.

The tasks run in ``manage.py embedded_worker`` processes fed by the gateway's broker
(core.localbroker): a Telegram message is answered, a WebSocket client sees the chat
events of a turn a worker ran, a worker that dies is replaced and what it held is
handed back, and a gateway killed with SIGKILL takes its workers with it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.llm_server import FakeServerProcess, Hang
from tests.fakes.telegram_server import FakeTelegramServer
from tests.gateway_process import GatewayProcess, child_env, run_manage
from tests.openclaw_client import OpenClawClient
from tests.telegram_harness import (
    GATEWAY_TOKEN,
    TOKEN,
    gateway_env,
    start,
    telegram_setup,
    texts_to,
    wait_until,
)

pytestmark = pytest.mark.process
SCOPES = ["operator.read", "operator.write", "operator.admin"]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"embedded_worker" in cmdline:
            found.append(int(entry))
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def _chat(port: int, text: str, run_id: str) -> list[dict[str, Any]]:
    client = OpenClawClient(f"ws://127.0.0.1:{port}/")
    await client.open()
    try:
        hello = await client.connect(token=GATEWAY_TOKEN, scopes=SCOPES, caps=[])
        assert hello["ok"], hello
        sent = await client.call(
            "chat.send", {"sessionKey": "main", "message": text, "idempotencyKey": run_id}
        )
        assert sent["ok"], sent

        deadline = time.monotonic() + 30
        while not any(
            e.get("event") == "chat"
            and (e.get("payload") or {}).get("runId") == run_id
            and e["payload"].get("state") in ("final", "error", "aborted")
            for e in client.events
        ):
            assert time.monotonic() < deadline, f"no final chat event for {run_id}"
            await asyncio.sleep(0.02)
        return [
            e["payload"]
            for e in client.events
            if e.get("event") == "chat" and e["payload"].get("runId") == run_id
        ]
    finally:
        await client.close()


def test_worker_processes_run_the_tasks_and_their_events_reach_the_gateways_sockets(
    tmp_path: Path,
    llm: FakeServerProcess,
    tg: FakeTelegramServer,
    gateways: list[GatewayProcess],
) -> None:
    env = gateway_env(tmp_path / "data", llm, OPENCLAW_WORKER_PROCESSES="2")
    telegram_setup(
        env, tg, ("channels.telegram.allowFrom", '["*"]'), ("channels.telegram.dmPolicy", "open")
    )
    gw = start(gateways, env)
    assert gw.proc is not None
    pid = gw.proc.pid

    def workers_other_than(gone: int) -> list[int] | None:
        now = _children(pid)
        return now if len(now) == 2 and gone not in now else None

    workers = wait_until("two worker processes", lambda: workers_other_than(0))

    # A Telegram DM: polled, decided, answered, sent, all in the workers.
    tg.push_message(TOKEN, chat_id=111, from_id=111, text="hello")
    assert wait_until("the reply", lambda: texts_to(tg, 111)) == ["echo: hello"]

    # A WebSocket chat turn: the run happens in a worker, the events reach this socket.
    events = asyncio.run(_chat(gw.port, "over the socket", "wp-1"))
    assert events[-1]["state"] == "final", events
    assert events[-1]["message"]["content"][0]["text"] == "echo: over the socket"

    # A worker that dies is replaced; the gateway goes on answering.
    os.kill(workers[0], signal.SIGKILL)
    replaced = wait_until("a replacement worker", lambda: workers_other_than(workers[0]), within=20)
    assert workers[1] in replaced
    tg.push_message(TOKEN, chat_id=111, from_id=111, text="still there?")
    wait_until("the second reply", lambda: len(texts_to(tg, 111)) == 2)
    assert texts_to(tg, 111) == ["echo: hello", "echo: still there?"]

    # SIGKILL the gateway: its workers exit with it (the pipe they watch closes).
    gw.stop(signal.SIGKILL)
    wait_until("the workers to exit", lambda: not any(_alive(p) for p in replaced), within=10)
    assert "Traceback" not in gw.stderr, gw.stderr
    assert "exited with code -9; restarting" in gw.stderr


def _run_holder(data: Path) -> tuple[int, int] | None:
    """(pid of the worker holding the only running run, its attempts), read from SQLite."""
    with sqlite3.connect(f"file:{data / 'gateway.sqlite3'}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT lease_owner, attempts FROM agents_run WHERE status = 'running'"
        ).fetchone()
    if row is None or not row[0]:
        return None
    return int(str(row[0]).split(":")[1]), int(row[1])


def test_a_worker_killed_mid_turn_hands_its_run_to_another_which_answers_once(
    tmp_path: Path,
    llm: FakeServerProcess,
    tg: FakeTelegramServer,
    gateways: list[GatewayProcess],
) -> None:
    data = tmp_path / "data"
    env = gateway_env(data, llm, OPENCLAW_WORKER_PROCESSES="2")
    telegram_setup(
        env, tg, ("channels.telegram.allowFrom", '["*"]'), ("channels.telegram.dmPolicy", "open")
    )
    gw = start(gateways, env)
    llm.script(Hang(60))  # the first model call never answers; the next one echoes
    tg.push_message(TOKEN, chat_id=222, from_id=222, text="are you there?")
    wait_until("the model call", llm.requests)
    holder, attempts = wait_until("the worker running the turn", lambda: _run_holder(data))
    assert attempts == 1
    os.kill(holder, signal.SIGKILL)

    try:
        replies = wait_until("the reply", lambda: texts_to(tg, 222))
    except AssertionError:
        gw.stop()
        raise AssertionError(f"no reply; the gateway said:\n{gw.stdout}\n{gw.stderr}") from None
    assert replies == ["echo: are you there?"]
    time.sleep(1.0)  # a duplicate would arrive now
    assert texts_to(tg, 222) == ["echo: are you there?"]
    with sqlite3.connect(f"file:{data / 'gateway.sqlite3'}?mode=ro", uri=True) as db:
        status, attempts = db.execute("SELECT status, attempts FROM agents_run").fetchone()
    assert (status, attempts) == ("succeeded", 2)
    gw.stop()
    assert f"handed back the work of worker pid {holder}" in gw.stderr, gw.stderr
    assert "Traceback" not in gw.stderr, gw.stderr


def test_a_clean_stop_stops_the_workers(
    tmp_path: Path, llm: FakeServerProcess, gateways: list[GatewayProcess]
) -> None:
    env = gateway_env(tmp_path / "data", llm, OPENCLAW_WORKER_PROCESSES="1")
    gw = start(gateways, env)
    assert gw.proc is not None
    pid = gw.proc.pid
    [worker] = wait_until("one worker process", lambda: _children(pid))
    events = asyncio.run(_chat(gw.port, "hi", "wp-2"))
    assert events[-1]["state"] == "final"
    started = time.monotonic()
    gw.stop(signal.SIGTERM)
    assert gw.proc.returncode == 0, gw.stderr
    assert time.monotonic() - started < 10
    assert not _alive(worker)
    assert "Started 1 worker process(es)" in gw.stdout
    assert "Gateway stopped in" in gw.stdout
    assert "Traceback" not in gw.stderr, gw.stderr


def test_embedded_worker_refuses_to_run_by_hand(tmp_path: Path) -> None:
    result = run_manage("embedded_worker", env=child_env(tmp_path / "data"))
    assert result.returncode == 2
    assert "started by `manage.py gateway`" in result.stderr
    assert "celery -A openclaw_site worker" in result.stderr
