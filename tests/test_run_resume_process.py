"""A run survives its worker being killed mid-run: real processes, SIGKILL, restart.

In embedded mode the ``gateway`` process *is* the worker (a Celery worker runs inside
it), so ``SIGKILL`` on the gateway kills the worker mid-run with no chance to clean up:
the run's lease stays held and a step is left ``running``. The next ``manage.py
gateway`` on the same data dir hands every held lease back at start-up and re-enqueues
the run, and the run loop resumes from its ``RunStep`` rows: a finished tool call is
never run again (its stored result is replayed to the model), a tool call found running
is not run again either (the model gets an error result saying it was interrupted), and
an interrupted model call is simply made again.

The model is the fake OpenAI server in its own process, scripted over HTTP, so the
requests the gateway made before and after the restart can be read back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.fakes.llm_server import (
    FakeServerProcess,
    FakeToolCall,
    Hang,
    RecordedRequest,
    Text,
    ToolCalls,
)
from tests.gateway_process import GatewayProcess, child_env, run_manage
from tests.openclaw_client import OpenClawClient

pytestmark = pytest.mark.process

TOKEN = "resume-token-0123456789abcdefghijklmnop"
SCOPES = ["operator.read", "operator.write"]
MODEL = "openai/gpt-4o-mini"
# The main session: its exec runs on the host, in the agent workspace (others are sandboxed).
SESSION_KEY = "agent:main:main"
WAIT_S = 30.0
T = TypeVar("T")

READ_RUN = """
import json
from agents.models import Run
run = Run.objects.get(run_id={run_id!r})
print(json.dumps({{
    "status": run.status,
    "steps": [
        {{"kind": s.kind, "status": s.status, "tool": s.tool_name, "error": s.error}}
        for s in run.steps.order_by("step_no")
    ],
}}))
"""


# --- fixtures and helpers ------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeServerProcess]:
    with FakeServerProcess("openai") as server:
        yield server


def _env(data: Path, fake: FakeServerProcess) -> dict[str, str]:
    env = child_env(
        data,
        OPENCLAW_GATEWAY_TOKEN=TOKEN,
        OPENCLAW_MODEL=MODEL,
        OPENCLAW_MODEL_FALLBACKS="",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="sk-test-resume-0123456789",
    )
    env.pop("ANTHROPIC_API_KEY", None)
    env.pop("ANTHROPIC_BASE_URL", None)
    return env


def _start(gateways: list[GatewayProcess], env: dict[str, str]) -> GatewayProcess:
    gw = GatewayProcess(env)
    gateways.append(gw)
    return gw.start()


def _wait_until(what: str, probe: Callable[[], T | None], within: float = WAIT_S) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {within:g}s waiting for {what}")


def _kill_worker(gw: GatewayProcess) -> None:
    """SIGKILL the gateway process itself (it is the worker), then collect its output."""
    assert gw.proc is not None
    cmdline = Path(f"/proc/{gw.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1].endswith(b"manage.py"), cmdline
    assert cmdline[2] == b"gateway", cmdline
    os.kill(gw.proc.pid, signal.SIGKILL)
    gw.proc.wait(timeout=10)
    assert gw.proc.returncode == -signal.SIGKILL
    gw.stop()  # only reads what it wrote


async def _open(port: int) -> OpenClawClient:
    client = OpenClawClient(f"ws://127.0.0.1:{port}/")
    await client.open()
    hello = await client.connect(token=TOKEN, scopes=SCOPES)
    assert hello["ok"], hello
    return client


async def _chat_send(port: int, *, run_id: str, message: str) -> None:
    client = await _open(port)
    try:
        res = await client.call(
            "chat.send", {"sessionKey": SESSION_KEY, "message": message, "idempotencyKey": run_id}
        )
        assert res["ok"], res
        assert res["payload"] == {"runId": run_id, "status": "started"}
    finally:
        await client.close()


async def _wait_run(port: int, *, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``agent.wait`` for the run, then the session's ``chat.history``."""
    client = await _open(port)
    try:
        waited = await client.call(
            "agent.wait", {"runId": run_id, "timeoutMs": int(WAIT_S * 1000)}, wait_s=WAIT_S + 5
        )
        assert waited["ok"], waited
        history = await client.call("chat.history", {"sessionKey": SESSION_KEY})
        assert history["ok"], history
        return waited["payload"], history["payload"]
    finally:
        await client.close()


def _stored_run(env: dict[str, str], run_id: str) -> dict[str, Any]:
    result = run_manage("shell", "--no-imports", "-c", READ_RUN.format(run_id=run_id), env=env)
    assert result.returncode == 0, result.stderr
    stored: dict[str, Any] = json.loads(result.stdout)
    return stored


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        str(part.get("text", ""))
        for part in content or []
        if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text")
    )


def _tool_results(request: RecordedRequest) -> dict[str, str]:
    """Tool results a model request carries, by tool call id (chat or Responses API)."""
    body = request.body if isinstance(request.body, dict) else {}
    out: dict[str, str] = {}
    for item in body.get("messages") or []:
        if item.get("role") == "tool":
            out[str(item.get("tool_call_id"))] = _text(item.get("content"))
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            out[str(item.get("call_id"))] = _text(item.get("output"))
    return out


def _tool_call_ids(request: RecordedRequest) -> list[str]:
    """Ids of the assistant tool calls a model request replays (chat or Responses API)."""
    body = request.body if isinstance(request.body, dict) else {}
    ids = [
        str(call.get("id"))
        for item in body.get("messages") or []
        if item.get("role") == "assistant"
        for call in item.get("tool_calls") or []
    ]
    ids += [
        str(item.get("call_id"))
        for item in body.get("input") or []
        if isinstance(item, dict) and item.get("type") == "function_call"
    ]
    return ids


def _by_role(history: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [m for m in history["messages"] if m["role"] == role]


def _final_replies(history: dict[str, Any]) -> list[str]:
    """Texts of the assistant messages that end a turn (not tool requests)."""
    return [
        _text(m["content"])
        for m in _by_role(history, "assistant")
        if m.get("stopReason") != "toolUse"
    ]


# --- the tests -----------------------------------------------------------------------
def test_a_run_killed_after_its_tool_ran_finishes_once_without_running_it_again(
    tmp_path: Path, fake: FakeServerProcess, gateways: list[GatewayProcess]
) -> None:
    data = tmp_path / "data"
    env = _env(data, fake)
    ran = data / "workspaces" / "main" / "ran.txt"
    call = FakeToolCall(
        "exec", {"command": "echo ran >> ran.txt; echo tool-output-7f3a"}, id="call_resume_1"
    )
    # The second model call (after the tool) hangs: the worker is killed during it.
    fake.script(ToolCalls((call,)), Hang(60))

    gw = _start(gateways, env)
    asyncio.run(_chat_send(gw.port, run_id="resume-1", message="run the command"))
    _wait_until("the tool to write ran.txt", ran.exists)
    before = _wait_until("the model call after the tool", lambda: fake.requests()[1:] or None)
    # Sanity: the hanging call already carried the tool's result.
    assert "tool-output-7f3a" in _tool_results(before[0]).get("call_resume_1", "")
    _kill_worker(gw)

    fake.reset()
    fake.script(Text("finished after restart"))
    gw2 = _start(gateways, env)
    waited, history = asyncio.run(_wait_run(gw2.port, run_id="resume-1"))
    gw2.stop()
    assert "Recovered work" in gw2.stdout, gw2.stdout
    assert "Traceback" not in gw2.stderr, gw2.stderr

    assert waited["status"] == "ok", waited
    assert ran.read_text() == "ran\n"  # the tool ran exactly once

    # After the restart the model was asked exactly once, and it got the result of the
    # tool call from before the kill: replayed from the database, not run again.
    after = fake.requests()
    assert len(after) == 1, [r.body for r in after]
    assert _tool_call_ids(after[0]) == ["call_resume_1"]
    results = _tool_results(after[0])
    assert list(results) == ["call_resume_1"]
    assert "tool-output-7f3a" in results["call_resume_1"]
    assert "[exit code 0]" in results["call_resume_1"]

    tool_results = _by_role(history, "toolResult")
    assert len(tool_results) == 1, history["messages"]
    assert tool_results[0]["toolCallId"] == "call_resume_1"
    assert tool_results[0]["isError"] is False
    assert "tool-output-7f3a" in _text(tool_results[0]["content"])
    assert _final_replies(history) == ["finished after restart"]
    assert [m["content"] for m in _by_role(history, "user")] == ["run the command"]

    stored = _stored_run(env, "resume-1")
    assert stored["status"] == "succeeded", stored
    kinds = [(s["kind"], s["status"]) for s in stored["steps"]]
    # The model call cut short by the kill is marked failed and made again.
    assert kinds == [
        ("model_call", "done"),
        ("tool_call", "done"),
        ("model_call", "failed"),
        ("model_call", "done"),
    ], stored["steps"]
    assert "interrupted" in stored["steps"][2]["error"]


def test_a_tool_interrupted_by_the_kill_is_not_run_again(
    tmp_path: Path, fake: FakeServerProcess, gateways: list[GatewayProcess]
) -> None:
    data = tmp_path / "data"
    env = _env(data, fake)
    workspace = data / "workspaces" / "main"
    started, late = workspace / "started.txt", workspace / "late.txt"
    # ``$$`` is the shell's pid, which is also its process group (exec starts each
    # command in its own session): the test uses it to clean up the orphan below.
    command = "echo $$ >> started.txt; sleep 30; echo late >> late.txt"
    call = FakeToolCall("exec", {"command": command, "timeout": 120}, id="call_sleepy_1")
    fake.script(ToolCalls((call,)))

    gw = _start(gateways, env)
    orphan_pgid: int | None = None
    try:
        asyncio.run(_chat_send(gw.port, run_id="resume-2", message="run the slow command"))
        line = _wait_until("the tool to start", lambda: _first_line(started))
        orphan_pgid = int(line)
        _kill_worker(gw)
        # SIGKILL leaves the command running, orphaned in its own session; were it left
        # alone it would write late.txt 30 s from now (the original call, not a re-run).
        # Kill it, as a host reboot or systemd's control-group kill would.
        _kill_group(orphan_pgid)

        fake.reset()
        fake.script(Text("finished after the interrupted tool"))
        gw2 = _start(gateways, env)
        waited, history = asyncio.run(_wait_run(gw2.port, run_id="resume-2"))
        gw2.stop()
    finally:
        if orphan_pgid is not None:
            _kill_group(orphan_pgid)
    assert "Recovered work" in gw2.stdout, gw2.stdout
    assert "Traceback" not in gw2.stderr, gw2.stderr

    assert waited["status"] == "ok", waited
    assert started.read_text().count("\n") == 1  # started once: not run again
    assert not late.exists()

    # The model is told the call was interrupted and may or may not have taken effect.
    after = fake.requests()
    assert len(after) == 1, [r.body for r in after]
    assert _tool_call_ids(after[0]) == ["call_sleepy_1"]
    result = _tool_results(after[0]).get("call_sleepy_1", "")
    assert result.startswith("error:"), result
    assert "interrupted" in result

    tool_results = _by_role(history, "toolResult")
    assert len(tool_results) == 1, history["messages"]
    assert tool_results[0]["toolCallId"] == "call_sleepy_1"
    assert tool_results[0]["isError"] is True
    assert "interrupted" in _text(tool_results[0]["content"])
    assert _final_replies(history) == ["finished after the interrupted tool"]

    stored = _stored_run(env, "resume-2")
    assert stored["status"] == "succeeded", stored
    tool_steps = [s for s in stored["steps"] if s["kind"] == "tool_call"]
    assert len(tool_steps) == 1, stored["steps"]
    assert tool_steps[0]["status"] == "failed"
    assert "not run again" in tool_steps[0]["error"]


def _first_line(path: Path) -> str | None:
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().partition("\n")[0].strip() or None
    return None


def _kill_group(pgid: int) -> None:
    """SIGKILL the orphaned tool command's group, if it is still the one we started."""
    try:
        cmdline = Path(f"/proc/{pgid}/cmdline").read_bytes()
    except OSError:
        return  # already gone
    if b"late.txt" in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
