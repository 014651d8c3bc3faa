"""Process helpers for the benchmarks: spawn, wait for HTTP, RSS and CPU of a tree."""

from __future__ import annotations

import contextlib
import multiprocessing.process
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> float:
    """Poll ``url`` until it answers; return the monotonic time it first did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
                response.read()
            return time.monotonic()
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


def tree(pid: int) -> list[int]:
    """Return pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def rss_mb(pid: int) -> float:
    total_kb = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            total_kb += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE_KB
    return total_kb / 1024


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def stop_workers(procs: Sequence[multiprocessing.process.BaseProcess], join_s: float = 10) -> None:
    """Join each started load process; terminate, then kill, any that lingers."""
    for proc in procs:
        if proc.pid is None:
            continue  # never started
        proc.join(timeout=join_s)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
