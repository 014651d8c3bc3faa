"""The last log lines of this process, kept in memory for ``logs.tail``.

OpenClaw's ``logs.tail`` reads its log file by byte offset. There is no log file here (the
console is the log), so a handler on the root logger keeps the most recent lines as if
they were the tail of one append-only file: every line has a byte offset in that virtual
file, the cursor is the offset just past the last line, and it only ever grows while the
process lives. The virtual file of each process starts at a different offset (the start
time in microseconds), so a cursor another process handed out, or this one before a
restart, almost surely falls outside the lines kept here; the answer then says ``reset``
and starts over, as OpenClaw's does for a truncated file.

The handler formats records with the console's formatter, so it holds nothing the
console does not show (and the console never shows secrets, see STYLE 3.9). In team
mode each process has its own buffer: ``logs.tail`` shows the process that answered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from typing_extensions import override

MAX_LINES = 2000
# One pathological record (a huge payload in an exception) must not pin megabytes.
MAX_LINE_CHARS = 4000
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
DEFAULT_MAX_BYTES = 250_000
MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class LogTail:
    """A slice of the buffer: OpenClaw's ``logs.tail`` result without ``file``."""

    cursor: int
    size: int
    lines: list[str]
    truncated: bool
    reset: bool


class LogBuffer:
    """A bounded, thread-safe ring of lines addressed by offsets in a virtual file."""

    def __init__(self, max_lines: int = MAX_LINES, *, base: int | None = None) -> None:
        self._lines: deque[tuple[int, str]] = deque(maxlen=max_lines)
        # Well below 2**53 for centuries: JavaScript clients keep cursors as numbers.
        self._base = time.time_ns() // 1000 if base is None else base
        self._size = self._base
        self._lock = threading.Lock()

    def append(self, text: str) -> None:
        """Add one formatted record; a multi-line record (a traceback) adds each line."""
        with self._lock:
            for line in text.splitlines() or [""]:
                clipped = line[:MAX_LINE_CHARS]
                self._lines.append((self._size, clipped))
                self._size += len(clipped.encode("utf-8")) + 1  # + the newline

    def clear(self) -> None:
        """Forget every line; offsets keep growing, so old cursors still see a gap."""
        with self._lock:
            self._lines.clear()

    def tail(
        self,
        *,
        cursor: int | None = None,
        limit: int = DEFAULT_LIMIT,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> LogTail:
        """Return the lines after ``cursor`` (or the newest ones), newest kept when cut.

        ``reset``: the cursor cannot be continued from, because it lies beyond the end
        (it came from before a restart, or from another process) or its lines were already
        dropped; the answer then starts from the oldest line kept. ``truncated``: older
        lines exist that the answer leaves out (dropped from the ring, or cut by ``limit``
        or ``max_bytes``), so a follower has a gap.
        """
        limit = max(1, min(limit, MAX_LIMIT))
        max_bytes = max(1, min(max_bytes, MAX_BYTES))
        with self._lock:
            size = self._size
            entries = list(self._lines)
        oldest = entries[0][0] if entries else size
        reset = cursor is not None and not oldest <= cursor <= size
        if cursor is None or reset:
            start = oldest
            truncated = oldest > self._base
        else:
            start = cursor
            truncated = False
        kept: list[str] = []
        budget = max_bytes
        for offset, line in reversed(entries):
            if offset < start:
                break
            cost = len(line.encode("utf-8")) + 1
            if len(kept) >= limit or cost > budget:
                truncated = True
                break
            kept.append(line)
            budget -= cost
        kept.reverse()
        return LogTail(cursor=size, size=size, lines=kept, truncated=truncated, reset=reset)


LOG_BUFFER = LogBuffer()


class RingBufferHandler(logging.Handler):
    """Logging handler that appends formatted records to ``LOG_BUFFER``.

    Wired to the root logger in ``settings.LOGGING`` with the console's formatter.
    """

    def __init__(self, level: int | str = logging.NOTSET, buffer: LogBuffer | None = None) -> None:
        super().__init__(level)
        self.buffer = buffer if buffer is not None else LOG_BUFFER

    @override
    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.buffer.append(self.format(record))
        except Exception:
            self.handleError(record)


def log_tail(
    *, cursor: int | None = None, limit: int = DEFAULT_LIMIT, max_bytes: int = DEFAULT_MAX_BYTES
) -> LogTail:
    """Return a slice of this process's recent log lines (see ``LogBuffer.tail``)."""
    return LOG_BUFFER.tail(cursor=cursor, limit=limit, max_bytes=max_bytes)
