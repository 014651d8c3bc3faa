"""Run a process with bounded output, and leave nothing of it behind (for exec).

The process runs in its own session, so a timeout or an aborted run kills the whole
process group, children included; stdin is ``/dev/null``, and output is read as it comes
into a bounded buffer: a command printing 100 MB costs neither memory nor time.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agents.tools.base import MAX_RESULT_CHARS
from agents.tools.sandbox.launchers import SETPRIV, launcher_path

HEAD_BYTES = 30_000
# The head, the tail and the status lines must fit in one result (MAX_RESULT_CHARS), or
# execute() would cut the exit-code line the model needs.
TAIL_BYTES = MAX_RESULT_CHARS - HEAD_BYTES - 1_000
POLL_S = 0.2
# After the shell exits, how long to keep reading output that background children write.
DRAIN_S = 0.5


class OutputBuffer:
    """Keep the first ``head`` and the last ``tail`` bytes of a stream; count the rest."""

    def __init__(self, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> None:
        self._head_max = head
        self._tail_max = tail
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = self._head_max - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        excess = len(self.tail) - self._tail_max
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        if not self.tail:
            return head
        tail = self.tail.decode("utf-8", "replace")
        if not self.dropped:
            return head + tail
        return f"{head}\n[... {self.dropped} bytes of output omitted ...]\n{tail}"


@dataclass(frozen=True)
class CommandResult:
    output: str
    exit_code: int | None  # None when we killed it (timeout or cancel)
    timed_out: bool
    cancelled: bool
    truncated_bytes: int
    elapsed: float


def _has_exited(pid: int) -> bool:
    """True once ``pid`` exited; it stays a zombie, so its group id cannot be reused yet."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _read_available(fd: int, buffer: OutputBuffer) -> bool:
    """Read what the pipe holds now; return False at end of file."""
    while True:
        try:
            chunk = os.read(fd, 65_536)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        buffer.feed(chunk)


@functools.cache
def _die_with_gateway() -> tuple[str, ...]:
    """A prefix that makes the command die if the gateway process is killed (kill -9).

    util-linux ``setpriv --pdeathsig KILL`` sets the parent-death signal and execs the
    command (preexec_fn would do it too, but is unsafe in a threaded worker). Without
    setpriv, a command outlives a killed gateway; the resumed run still never repeats it.
    An absolute path from the system folders: a ``PATH`` the model set must not pick it.
    """
    path = launcher_path(SETPRIV)
    return (path, "--pdeathsig", "KILL", "--") if path else ()


def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    is_cancelled: Callable[[], bool],
) -> CommandResult:
    """Run ``argv`` in a new session; kill its whole process group on timeout or cancel.

    Also kills what the command left running in the background once the shell exited,
    so a tool call never leaves processes behind.
    """
    started = time.monotonic()
    deadline = started + timeout
    buffer = OutputBuffer()
    timed_out = cancelled = False
    proc = subprocess.Popen(  # noqa: S603 - argv is /bin/sh -c or the sandbox, by design
        [*_die_with_gateway(), *argv],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
    )
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    open_pipe = True
    exited_at: float | None = None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                if open_pipe:
                    if selector.select(timeout=POLL_S):
                        open_pipe = _read_available(fd, buffer)
                else:
                    time.sleep(min(POLL_S / 4, max(0.0, deadline - time.monotonic())))
                now = time.monotonic()
                if exited_at is None and _has_exited(proc.pid):
                    exited_at = now
                if exited_at is not None and (not open_pipe or now - exited_at > DRAIN_S):
                    break
                if is_cancelled():
                    cancelled = True
                    break
                if now >= deadline:
                    timed_out = True
                    break
    finally:
        _kill_group(proc.pid)
        code = proc.wait()
        with contextlib.suppress(OSError):
            _read_available(fd, buffer)
        proc.stdout.close()
    killed = timed_out or cancelled
    return CommandResult(
        output=buffer.text(),
        exit_code=None if killed else code,
        timed_out=timed_out,
        cancelled=cancelled,
        truncated_bytes=buffer.dropped,
        elapsed=time.monotonic() - started,
    )
