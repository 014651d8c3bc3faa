"""The exec tool: real subprocesses, process-group kills, bounded output, scrubbed env, and
the sandbox (run with every mechanism that works on this host; one that does not is
skipped, unless REQUIRE_SERVICES=1 and none works, which fails: see ``use_mechanism``).
Attacks on the sandbox are in test_sandbox_attacks.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.providers import ToolCall
from agents.tools import process, sandbox
from agents.tools.base import MAX_RESULT_CHARS, ToolContext, ToolOutput, execute, registered_tools
from agents.tools.sandbox import command as sandbox_command


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def run(ws: Path, *, sandboxed: bool = False, ctx: ToolContext | None = None, **args: Any) -> ToolOutput:  # fmt: skip
    ctx = ctx or ToolContext(
        agent_slug="main",
        session_key="agent:main:main",
        run_id="r1",
        workspace=ws,
        sandboxed=sandboxed,
    )
    return execute(ToolCall("c1", "exec", json.dumps(args)), ctx, registered_tools())


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, seconds: float = 3.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


# --- plain exec ------------------------------------------------------------------------
def test_output_and_exit_code_come_back_and_a_failure_is_not_a_tool_error(ws: Path) -> None:
    out = run(ws, command="echo out; echo err >&2; exit 3")
    assert not out.is_error
    assert out.content.splitlines() == ["out", "err", "[exit code 3] [no sandbox]"]
    assert out.meta["exitCode"] == 3
    assert out.meta["timedOut"] is False
    assert out.meta["sandboxed"] is False


def test_commands_run_in_the_workspace_or_a_workdir_inside_it(ws: Path) -> None:
    (ws / "sub").mkdir()
    assert run(ws, command="pwd").content.startswith(str(ws.resolve()))
    assert run(ws, command="pwd", workdir="sub").content.startswith(str(ws.resolve() / "sub"))
    out = run(ws, command="pwd", workdir="../")
    assert out.is_error
    assert "outside the workspace" in out.content
    assert "does not exist" in run(ws, command="pwd", workdir="nope").content


def test_stdin_is_empty_so_a_reading_command_does_not_hang(ws: Path) -> None:
    started = time.monotonic()
    out = run(ws, command="cat; echo done", timeout=5)
    assert "done" in out.content
    assert time.monotonic() - started < 3


def test_the_environment_is_scrubbed_of_the_gateways_secrets(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:must-not-leak")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    out = run(ws, command="env", env={"MY_VAR": "mine"})
    assert "must-not-leak" not in out.content
    names = {line.split("=", 1)[0] for line in out.content.splitlines() if "=" in line}
    assert names <= {"PATH", "HOME", "LANG", "TERM", "TZ", "MY_VAR", "PWD", "SHLVL", "_"}
    assert f"HOME={ws.resolve()}" in out.content
    assert "TZ=Europe/Berlin" in out.content
    assert "MY_VAR=mine" in out.content
    assert "LANG=C.UTF-8" in out.content


def test_bad_env_names_and_empty_commands_are_refused(ws: Path) -> None:
    assert "not a valid variable name" in run(ws, command="true", env={"A-B": "x"}).content
    assert "command is empty" in run(ws, command="  ").content
    assert "timeout" in run(ws, command="true", timeout=0).content


def test_a_timeout_kills_the_whole_process_group(ws: Path) -> None:
    started = time.monotonic()
    out = run(ws, command="sleep 30 & echo $! > child.pid; echo started; sleep 30", timeout=1)
    elapsed = time.monotonic() - started
    assert out.is_error
    assert out.meta["timedOut"] is True
    assert out.meta["exitCode"] is None
    assert "started" in out.content
    assert out.content.endswith("[killed after 1 s timeout] [no sandbox]")
    assert elapsed < 5
    assert _wait_gone(int((ws / "child.pid").read_text()))


def test_background_processes_are_stopped_when_the_command_ends(ws: Path) -> None:
    out = run(ws, command="sleep 30 > /dev/null 2>&1 & echo $! > bg.pid; echo done")
    assert out.content.splitlines() == ["done", "[exit code 0] [no sandbox]"]
    assert _wait_gone(int((ws / "bg.pid").read_text()))


def test_the_run_deadline_caps_the_timeout(ws: Path) -> None:
    ctx = ToolContext(
        agent_slug="main",
        session_key="agent:main:main",
        run_id="r1",
        workspace=ws,
        deadline=time.monotonic() + 1.5,
    )
    started = time.monotonic()
    out = run(ws, ctx=ctx, command="sleep 20", timeout=60)
    assert out.meta["timedOut"] is True
    assert time.monotonic() - started < 5


def test_cancelling_the_run_kills_the_command(ws: Path) -> None:
    cancel_at = time.monotonic() + 0.5
    ctx = ToolContext(
        agent_slug="main",
        session_key="agent:main:main",
        run_id="r1",
        workspace=ws,
        is_cancelled=lambda: time.monotonic() > cancel_at,
    )
    started = time.monotonic()
    out = run(ws, ctx=ctx, command="sleep 5 & echo $! > c.pid; sleep 30", timeout=60)
    assert out.is_error
    assert out.meta["cancelled"] is True
    assert "cancelled" in out.content
    assert time.monotonic() - started < 3
    assert _wait_gone(int((ws / "c.pid").read_text()))


def test_a_hundred_megabytes_of_output_is_capped_quickly(ws: Path) -> None:
    started = time.monotonic()
    out = run(ws, command="head -c 100000000 /dev/zero | tr '\\0' a; echo; echo END", timeout=60)
    assert time.monotonic() - started < 20
    assert not out.is_error
    assert len(out.content) <= MAX_RESULT_CHARS
    assert "cut:" not in out.content  # execute() did not need to cut: the status line stays
    assert out.meta["truncatedBytes"] > 99_000_000
    assert "bytes of output omitted" in out.content
    assert out.content.endswith("END\n[exit code 0] [no sandbox]")


def test_output_buffer_keeps_head_and_tail() -> None:
    buffer = process.OutputBuffer(head=4, tail=3)
    for chunk in (b"ab", b"cdef", b"ghij"):
        buffer.feed(chunk)
    assert buffer.dropped == 3
    assert buffer.text() == "abcd\n[... 3 bytes of output omitted ...]\nhij"


# --- sandbox ---------------------------------------------------------------------------
def use_mechanism(name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the exec tool at sandbox mechanism ``name``, or skip when it does not work.

    With REQUIRE_SERVICES=1 (CI) a host where no mechanism works fails instead: a
    skipped sandbox test guards nothing, and .ci/run installs bubblewrap.
    """
    if not sandbox.mechanism_works(name):
        reason = (
            f"{name} is not installed on this host"
            if shutil.which(name, path=sandbox.SYSTEM_PATH) is None
            else f"{name} is installed but cannot create the sandbox namespaces here"
        )
        if os.environ.get("REQUIRE_SERVICES") == "1" and not any(
            sandbox.mechanism_works(m) for m in sandbox.MECHANISMS
        ):
            pytest.fail(
                f"REQUIRE_SERVICES=1 but no sandbox mechanism works on this host ({reason}); "
                "install bubblewrap (apt-get install bubblewrap) or allow unprivileged user "
                "namespaces",
                pytrace=False,
            )
        pytest.skip(reason)
    monkeypatch.setattr(sandbox_command, "sandbox_available", lambda: name)
    return name


@pytest.fixture(params=sandbox.MECHANISMS)
def mechanism(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each mechanism that works here; the exec tool is pointed at it."""
    return use_mechanism(str(request.param), monkeypatch)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    yield server
    server.close()


def _connect_command(port: int) -> str:
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('CONNECTED')"  # fmt: skip
    # The interpreter itself, not the venv's link to it: the venv may live under /tmp,
    # which the sandbox replaces with a private tmpfs.
    return f'{os.path.realpath(sys.executable)} -c "{code}"'


def test_sandbox_denies_the_network(ws: Path, mechanism: str, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    control = run(ws, command=_connect_command(port))  # unsandboxed: the socket is reachable
    assert "CONNECTED" in control.content
    out = run(ws, sandboxed=True, command=_connect_command(port))
    assert out.meta["sandbox"] == mechanism
    assert out.meta["sandboxed"] is True
    assert out.content.endswith(f"[sandbox: {mechanism}]")  # the model reads it too
    assert "CONNECTED" not in out.content
    assert out.meta["exitCode"] != 0
    assert "Connection refused" in out.content or "unreachable" in out.content


def test_sandbox_writes_only_in_the_workspace(ws: Path, tmp_path: Path, mechanism: str) -> None:
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    victim = Path("/usr/openclaw-sandbox-test")
    try:
        out = run(
            ws,
            sandboxed=True,
            command=f"echo inside > inside.txt; echo x > {victim}; echo y > {sibling}/planted; "
            "echo t > /tmp/t && cat /tmp/t",
        )
        assert "Read-only file system" in out.content
        assert (ws / "inside.txt").read_text() == "inside\n"
        assert not victim.exists()
        assert not (sibling / "planted").exists()
        assert "t\n" in out.content  # a private /tmp works
    finally:
        victim.unlink(missing_ok=True)


def test_sandbox_has_its_own_processes_and_limits(ws: Path, mechanism: str) -> None:
    out = run(ws, sandboxed=True, command="ls /proc | grep -c '^[0-9]'; ulimit -n; ulimit -v")
    count, files, memory = out.content.splitlines()[:3]
    assert int(count) < 10  # its own PID namespace: none of the host's processes
    assert int(files) == sandbox.OPEN_FILES_LIMIT
    assert int(memory) * 1024 == sandbox.MEMORY_LIMIT_BYTES


def test_sandbox_hides_the_data_dir_but_keeps_the_workspace(
    mechanism: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data dir holds secret files; only the workspace inside it stays visible.

    Needs a folder outside /tmp (the sandbox's /tmp is private anyway): /var/tmp.
    """
    if not os.access("/var/tmp", os.W_OK):
        pytest.skip("/var/tmp is not writable here")
    data = Path(tempfile.mkdtemp(prefix="openclaw-sandbox-data-", dir="/var/tmp"))
    try:
        (data / "secret_key").write_text("SECRET-VALUE")
        workspace = data / "workspaces" / "main"
        workspace.mkdir(parents=True)
        settings.DATA_DIR = data
        out = run(
            workspace,
            sandboxed=True,
            command=f"cat {data}/secret_key; ls -a {data}; echo ok > mine.txt",
        )
        assert "SECRET-VALUE" not in out.content
        assert (workspace / "mine.txt").read_text() == "ok\n"
        unsandboxed = run(workspace, command=f"cat {data}/secret_key")
        assert "SECRET-VALUE" in unsandboxed.content  # the control: it is there outside
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_sandbox_timeout_kills_everything_inside(ws: Path, mechanism: str) -> None:
    started = time.monotonic()
    out = run(ws, sandboxed=True, command="sleep 30 & sleep 30", timeout=1)
    assert out.meta["timedOut"] is True
    assert time.monotonic() - started < 5


def test_sandboxed_exec_refuses_when_no_mechanism_works(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox_command, "sandbox_available", lambda: None)
    out = run(ws, sandboxed=True, command="touch ran.txt")
    assert out.is_error
    assert out.content == f"error: {sandbox.UNAVAILABLE_MESSAGE}"
    assert "apt install bubblewrap" in out.content
    assert not (ws / "ran.txt").exists()  # never silently run unsandboxed


def test_sandbox_available_reports_a_mechanism_or_none() -> None:
    found = sandbox.sandbox_available()
    assert found in (None, *sandbox.MECHANISMS)
    if found is None:
        assert not any(sandbox.mechanism_works(m) for m in sandbox.MECHANISMS)
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("REQUIRE_SERVICES=1 but no sandbox mechanism works here", pytrace=False)


def test_the_status_line_names_the_sandbox_that_ran(ws: Path, mechanism: str) -> None:
    out = run(ws, sandboxed=True, command="echo hi; exit 4")
    assert out.content.splitlines() == ["hi", f"[exit code 4] [sandbox: {mechanism}]"]
    assert (out.meta["sandboxed"], out.meta["sandbox"]) == (True, mechanism)
    late = run(ws, sandboxed=True, command="sleep 30", timeout=1)
    assert late.content.endswith(f"[killed after 1 s timeout] [sandbox: {mechanism}]")


def test_the_models_env_reaches_the_sandboxed_command_and_nothing_else_does(
    ws: Path, mechanism: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    out = run(ws, sandboxed=True, command="env", env={"MY_VAR": "a b\nc", "PATH": "/bin"})
    assert "must-not-leak" not in out.content
    assert "MY_VAR=a b\nc" in out.content
    assert "PATH=/bin\n" in out.content
    assert f"HOME={ws.resolve()}" in out.content
    names = {line.split("=", 1)[0] for line in out.content.splitlines() if "=" in line}
    assert names <= {"PATH", "HOME", "LANG", "TERM", "TZ", "MY_VAR", "PWD", "SHLVL", "_"}


def test_launchers_are_absolute_paths_from_the_system_folders() -> None:
    found = sandbox.resolve_launchers()
    assert set(found) == set(sandbox.LAUNCHERS)
    system = sandbox.SYSTEM_PATH.split(":")
    for path in filter(None, found.values()):
        assert os.path.isabs(path)
        assert os.path.dirname(path) in system
    assert sandbox.resolve_launchers() == found  # idempotent (cached)


def test_the_prelude_fails_closed_when_it_cannot_build_the_sandbox(ws: Path) -> None:
    """A setup error stops the command (exit 125) instead of running it unconfined."""
    spec = {"mode": sandbox.UNSHARE, "workspace": str(ws / "missing"), "cwd": str(ws)}
    rest = {"access": "rw", "pins": [], "protect": [], "hide": [], "limits": {}, "env": {}}
    code = sandbox.prelude_main([json.dumps({**spec, **rest}), "/bin/sh", "-c", "touch ran.txt"])
    assert code == sandbox.SETUP_FAILED
    assert not (ws / "ran.txt").exists()
    no_env = {**spec, **rest, "mode": sandbox.BWRAP, "workspace": str(ws)}
    del no_env["env"]
    code = sandbox.prelude_main([json.dumps(no_env), "/bin/sh", "-c", "touch ran.txt"])
    assert code == sandbox.SETUP_FAILED  # no environment for the command: never guessed
    assert not (ws / "ran.txt").exists()
