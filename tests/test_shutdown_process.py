"""Shutdown is bounded, also with a model call or a tool in flight: real processes.

SIGTERM/SIGINT cut off the runs of the process (provider stream closed, exec's process
group killed), hand their leases back (the run stays resumable: not failed), log one
line per run, and exit 0 within ``SHUTDOWN_TIMEOUT_SECONDS`` (5 s). The next gateway on
the same data dir resumes the run once and answers it. A second signal exits at once.

The model is the fake OpenAI server in its own process, scripted to stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeServerProcess, FakeToolCall, Hang, Text, ToolCalls
from tests.gateway_process import GatewayProcess
from tests.test_run_resume_process import (
    SESSION_KEY,
    _by_role,
    _chat_send,
    _env,
    _final_replies,
    _first_line,
    _start,
    _stored_run,
    _text,
    _tool_results,
    _wait_run,
    _wait_until,
)

pytestmark = pytest.mark.process

BOUND_S = 5.5  # SHUTDOWN_TIMEOUT_SECONDS (5 s), plus the test's own overhead


@pytest.fixture
def fake() -> Iterator[FakeServerProcess]:
    with FakeServerProcess("openai") as server:
        yield server


@pytest.fixture
def gateways() -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for gw in started:
        if gw.proc is not None and gw.proc.poll() is None:
            gw.stop(signal.SIGKILL)


def _cut_off_lines(gw: GatewayProcess) -> list[str]:
    return [line for line in gw.stderr.splitlines() if "shutdown cut off run" in line]


def _resume_and_answer(
    gateways: list[GatewayProcess], env: dict[str, str], fake: FakeServerProcess, run_id: str
) -> tuple[dict[str, object], dict[str, object]]:
    """Restart on the same data dir with a model that answers; wait for the run."""
    gw2 = _start(gateways, env)
    waited, history = asyncio.run(_wait_run(gw2.port, run_id=run_id))
    gw2.stop()
    assert "Recovered work" in gw2.stdout, gw2.stdout
    assert "Traceback" not in gw2.stderr, gw2.stderr
    return waited, history


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_with_a_model_call_in_flight_exits_in_bound_and_the_run_resumes_once(
    tmp_path: Path, fake: FakeServerProcess, gateways: list[GatewayProcess], sig: int
) -> None:
    env = _env(tmp_path / "data", fake)
    fake.script(Hang(3600))  # the provider sits on the request
    gw = _start(gateways, env)
    run_id = f"shutdown-{signal.Signals(sig).name}"
    asyncio.run(_chat_send(gw.port, run_id=run_id, message="say something"))
    _wait_until("the model call", lambda: fake.requests() or None)
    time.sleep(0.3)

    elapsed = gw.stop(sig, timeout=30)

    assert gw.proc is not None
    assert gw.proc.returncode == 0, gw.stderr
    assert elapsed < BOUND_S, (elapsed, gw.stderr)
    assert "Traceback" not in gw.stderr, gw.stderr
    lines = _cut_off_lines(gw)
    assert len(lines) == 1, gw.stderr
    assert f"run {run_id} (session {SESSION_KEY})" in lines[0]
    assert "while calling openai/gpt-4o-mini via openai:env" in lines[0]
    assert "WARNING" in lines[0]
    assert _stored_run(env, run_id)["status"] == "queued"  # handed back, not failed

    fake.reset()
    fake.script(Text("answered after the restart"))
    waited, history = _resume_and_answer(gateways, env, fake, run_id)

    assert waited["status"] == "ok", waited
    assert len(fake.requests()) == 1  # resumed once
    assert _final_replies(history) == ["answered after the restart"]
    stored = _stored_run(env, run_id)
    assert stored["status"] == "succeeded", stored
    # The call cut off by the shutdown is marked failed on resume and made again.
    assert [(s["kind"], s["status"]) for s in stored["steps"]] == [
        ("model_call", "failed"),
        ("model_call", "done"),
    ], stored["steps"]


def test_sigterm_with_exec_in_flight_kills_the_command_and_the_run_resumes_once(
    tmp_path: Path, fake: FakeServerProcess, gateways: list[GatewayProcess]
) -> None:
    data = tmp_path / "data"
    env = _env(data, fake)
    workspace = data / "workspaces" / "main"
    started, late = workspace / "started.txt", workspace / "late.txt"
    # ``$$``: the shell's pid, also its process group (exec starts a new session).
    command = "echo $$ >> started.txt; sleep 30; echo late >> late.txt"
    call = FakeToolCall("exec", {"command": command, "timeout": 120}, id="call_slow_1")
    fake.script(ToolCalls((call,)))
    gw = _start(gateways, env)
    asyncio.run(_chat_send(gw.port, run_id="shutdown-exec", message="run the slow command"))
    pgid = int(_wait_until("the command to start", lambda: _first_line(started)))

    try:
        elapsed = gw.stop(signal.SIGTERM, timeout=30)

        assert gw.proc is not None
        assert gw.proc.returncode == 0, gw.stderr
        assert elapsed < BOUND_S, (elapsed, gw.stderr)
        lines = _cut_off_lines(gw)
        assert len(lines) == 1, gw.stderr
        assert "run shutdown-exec" in lines[0]
        assert "while running the tool exec" in lines[0]
        assert not _alive(pgid)  # its process group was killed, not orphaned
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if _alive(pgid):
                os.killpg(pgid, signal.SIGKILL)

    fake.reset()
    fake.script(Text("done after the restart"))
    waited, history = _resume_and_answer(gateways, env, fake, "shutdown-exec")

    assert waited["status"] == "ok", waited
    assert started.read_text().count("\n") == 1  # not run again
    assert not late.exists()
    after = fake.requests()
    assert len(after) == 1, [r.body for r in after]
    assert "call_slow_1" in _tool_results(after[0])  # the model learns what happened
    tool_results = _by_role(history, "toolResult")
    assert len(tool_results) == 1, history
    assert tool_results[0]["isError"] is True
    assert _final_replies(history) == ["done after the restart"]
    assert _text(tool_results[0]["content"])


def test_a_second_signal_exits_at_once(
    tmp_path: Path, fake: FakeServerProcess, gateways: list[GatewayProcess]
) -> None:
    env = _env(tmp_path / "data", fake)
    gw = _start(gateways, env)
    assert gw.proc is not None
    gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.02)
    elapsed = gw.stop(signal.SIGINT, timeout=30)

    assert elapsed < 1.0, (elapsed, gw.stderr)
    assert gw.proc.returncode == 0, gw.stderr
    assert "second signal" in gw.stderr, gw.stderr


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
