"""The read tool: a page of a workspace text file, with a hint saying how to continue.

``read_page`` is shared with memory_get (``agents.tools.memory``).
"""

from __future__ import annotations

import os
from typing import BinaryIO

from pydantic import Field

from agents.tools import paths
from agents.tools.base import MAX_RESULT_CHARS, ToolArgs, ToolContext, ToolError, ToolOutput

READ_MAX_BYTES = 200_000
# execute() cuts any result at MAX_RESULT_CHARS; a read page stays under it so the
# "call read with offset=N" hint at its end always reaches the model.
READ_PAGE_BYTES = min(READ_MAX_BYTES, MAX_RESULT_CHARS - 1_000)


class ReadArgs(ToolArgs):
    path: str = Field(description="File to read, relative to the workspace.")
    offset: int | None = Field(
        default=None, ge=1, description="1-based line number to start at (default 1)."
    )
    limit: int | None = Field(
        default=None, ge=1, description="How many lines to return at most (default: all)."
    )


def _skip_lines(handle: BinaryIO, count: int) -> int:
    """Skip ``count`` lines without holding any of them whole; return how many existed."""
    skipped = 0
    while skipped < count:
        chunk = handle.readline(65_536)
        if not chunk:
            break
        if chunk.endswith(b"\n"):
            skipped += 1
    return skipped


def _decode_cut(data: bytes, shown: str) -> str:
    """Decode a line cut at a byte budget: drop a multi-byte character split by the cut."""
    for trim in range(4):
        try:
            return data[: len(data) - trim].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return paths.decode_utf8(data, shown)  # raises the clear "not UTF-8" message


def read_page(
    fd: int, *, shown: str, offset: int, limit: int | None, budget: int, next_call: str
) -> str:
    """Return lines ``offset``.. of the open file, at most ``budget`` bytes, with a hint.

    The hint at the end says which lines were shown and how to continue (``next_call``
    with the next line number, e.g. "read with offset="), so the model can page through
    files of any size.
    """
    with os.fdopen(fd, "rb") as handle:
        if offset > 1 and _skip_lines(handle, offset - 1) < offset - 1:
            raise ToolError(f"offset {offset} is past the end of {shown}; use a smaller offset")
        lines: list[str] = []
        used = 0
        more = False
        cut_line = False
        while limit is None or len(lines) < limit:
            raw = handle.readline(budget - used + 1)
            if not raw:
                break
            if used + len(raw) > budget:
                if not lines:  # one line longer than the whole page: show its start
                    lines.append(_decode_cut(raw[: budget - used], shown))
                    cut_line = True
                more = True
                break
            lines.append(paths.decode_utf8(raw, shown))
            used += len(raw)
        else:
            more = bool(handle.read(1))
    text = "".join(lines)
    if not lines:
        return f"({shown} is empty)" if offset == 1 else text
    last = offset + len(lines) - 1
    if cut_line:
        return text + (
            f"\n\n[line {offset} of {shown} is longer than {budget} bytes; only its start is "
            "shown. Use exec (e.g. cut -c or head -c) to see the rest.]"
        )
    if more:
        why = "" if limit is not None and len(lines) == limit else f" ({budget} byte page limit)"
        return text + (
            f"\n\n[Showing lines {offset}-{last} of {shown}{why}. "
            f"Call {next_call}{last + 1} to continue.]"
        )
    return text


def read_run(ctx: ToolContext, args: ReadArgs) -> ToolOutput:
    wp = paths.resolve(ctx.workspace, args.path)
    fd = paths.open_regular(wp)
    text = read_page(
        fd,
        shown=wp.shown,
        offset=args.offset or 1,
        limit=args.limit,
        budget=READ_PAGE_BYTES,
        next_call="read with offset=",
    )
    return ToolOutput(text, meta={"path": wp.shown})
