"""Memory tools (group:memory): search and read the workspace's memory notes.

OpenClaw's memory is Markdown in the workspace: ``MEMORY.md`` (or ``memory.md``) for
lasting facts and ``memory/YYYY-MM-DD.md`` daily logs. Daily logs are not injected into
the prompt, so these tools are how the model reaches them. The search is a plain keyword
search (no embeddings): each line scores by how many query words it holds, and a recent
daily log beats an old one on a tie.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pydantic import Field

from agents.tools import paths
from agents.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolOutput
from agents.tools.base import register as register_tool
from agents.tools.fs.read import READ_PAGE_BYTES, read_page

ROOT_FILES = ("MEMORY.md", "memory.md")
MEMORY_DIR = "memory"
CONTEXT_LINES = 2
MAX_FILES = 2_000
MAX_FILE_BYTES = 2_000_000
# A daily log from today gets this much extra score, one from a week ago half of it.
RECENCY_BONUS = 1.0
RECENCY_HALF_LIFE_DAYS = 7
_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_WORD = re.compile(r"\w+")


class MemorySearchArgs(ToolArgs):
    query: str = Field(description="Words to look for in the memory notes (any order).")
    max_results: int = Field(
        default=8, ge=1, le=50, description="How many matches to return (default 8)."
    )


class MemoryGetArgs(ToolArgs):
    path: str = Field(
        description="Memory file to read: MEMORY.md, memory.md or a file under memory/ "
        "(e.g. memory/2026-01-31.md), as memory_search shows it."
    )
    from_line: int | None = Field(default=None, ge=1, description="1-based line to start at.")
    lines: int | None = Field(default=None, ge=1, description="How many lines to return.")


# --- search ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    path: str
    line: int  # 1-based
    score: float
    context: tuple[tuple[int, str], ...]


def memory_files(ctx: ToolContext) -> list[paths.WorkspacePath]:
    """The workspace's memory files, each checked to stay inside the workspace."""
    found: list[paths.WorkspacePath] = []
    for name in ROOT_FILES:
        try:
            wp = paths.resolve(ctx.workspace, name)
        except ToolError:
            continue
        if os.path.isfile(wp.real) and wp not in found:
            found.append(wp)
    try:
        folder = paths.resolve(ctx.workspace, MEMORY_DIR)
    except ToolError:
        return found
    for dirpath, dirnames, filenames in os.walk(folder.real):
        dirnames.sort()
        for filename in sorted(filenames):
            if not filename.endswith(".md") or len(found) >= MAX_FILES:
                continue
            relative = os.path.relpath(os.path.join(dirpath, filename), folder.root)
            try:
                wp = paths.resolve(ctx.workspace, relative)
            except ToolError:  # a symlink out of the workspace
                continue
            if os.path.isfile(wp.real) and wp not in found:
                found.append(wp)
    return found


def _recency(wp: paths.WorkspacePath, today: date) -> float:
    match = _DAY.search(wp.parts[-1])
    if match is None or wp.parts[0] != MEMORY_DIR:
        return 0.0
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return 0.0
    age = max(0, (today - day).days)
    return RECENCY_BONUS / (1 + age / RECENCY_HALF_LIFE_DAYS)


def _read_lines(wp: paths.WorkspacePath) -> list[str]:
    try:
        fd = paths.open_regular(wp)
    except ToolError:
        return []
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES)
    return data.decode("utf-8", "replace").splitlines()


def _file_hits(wp: paths.WorkspacePath, terms: list[str], bonus: float) -> list[Hit]:
    """Best-scoring lines of one file, at most one per neighbourhood of lines."""
    lines = _read_lines(wp)
    scored: list[tuple[float, int]] = []
    for index, line in enumerate(lines):
        lower = line.lower()
        matched = [t for t in terms if t in lower]
        if not matched:
            continue
        occurrences = sum(lower.count(t) for t in matched)
        score = 10.0 * len(matched) / len(terms) + 0.1 * min(occurrences, 10) + bonus
        scored.append((score, index))
    scored.sort(key=lambda s: (-s[0], s[1]))
    hits: list[Hit] = []
    for score, index in scored:
        if any(abs(index - (h.line - 1)) <= CONTEXT_LINES for h in hits):
            continue
        start, stop = max(0, index - CONTEXT_LINES), min(len(lines), index + CONTEXT_LINES + 1)
        context = tuple((n + 1, lines[n]) for n in range(start, stop))
        hits.append(Hit(wp.shown, index + 1, round(score, 2), context))
    return hits


def search(ctx: ToolContext, query: str, max_results: int) -> tuple[list[Hit], int]:
    """Return the best ``max_results`` hits for ``query`` and how many files were searched."""
    terms = list(dict.fromkeys(_WORD.findall(query.lower())))
    if not terms:
        raise ToolError("the query has no words to look for; give one or more keywords")
    today = datetime.now(UTC).date()
    files = memory_files(ctx)
    hits = [h for wp in files for h in _file_hits(wp, terms, _recency(wp, today))]
    hits.sort(key=lambda h: (-h.score, h.path, h.line))
    return hits[:max_results], len(files)


def _format(hit: Hit) -> str:
    lines = [f"{hit.path}:{hit.line} (score {hit.score:g})"]
    lines += [f"{'>' if n == hit.line else ' '} {n:>5}  {text}" for n, text in hit.context]
    return "\n".join(lines)


def memory_search_run(ctx: ToolContext, args: MemorySearchArgs) -> ToolOutput:
    hits, searched = search(ctx, args.query, args.max_results)
    meta = {"results": len(hits), "files": searched}
    if not hits:
        where = "no memory files exist yet" if not searched else f"{searched} files searched"
        return ToolOutput(f"No memory notes match {args.query!r} ({where}).", meta=meta)
    body = "\n\n".join(_format(h) for h in hits)
    footer = "\n\nUse memory_get with the path (and from_line) to read more of a file."
    return ToolOutput(body + footer, meta=meta)


# --- get -------------------------------------------------------------------------------
def is_memory_path(wp: paths.WorkspacePath) -> bool:
    """True for MEMORY.md, memory.md and files under memory/ (by real location)."""
    if len(wp.parts) == 1:
        return wp.parts[0] in ROOT_FILES
    return len(wp.parts) > 1 and wp.parts[0] == MEMORY_DIR


def memory_get_run(ctx: ToolContext, args: MemoryGetArgs) -> ToolOutput:
    wp = paths.resolve(ctx.workspace, args.path)
    if not is_memory_path(wp):
        raise ToolError(
            f"{wp.shown} is not a memory file; memory_get reads MEMORY.md, memory.md and files "
            "under memory/ (use read for other files)"
        )
    if not paths.exists(wp):
        raise ToolError(f"{wp.shown} does not exist; memory_search lists the memory notes")
    fd = paths.open_regular(wp)
    text = read_page(
        fd,
        shown=wp.shown,
        offset=args.from_line or 1,
        limit=args.lines,
        budget=READ_PAGE_BYTES,
        next_call=f"memory_get with path={wp.shown!r} and from_line=",
    )
    return ToolOutput(text, meta={"path": wp.shown})


register_tool(
    Tool(
        name="memory_search",
        description=(
            "Search the memory notes (MEMORY.md and the daily logs in memory/) for keywords; "
            "returns path:line matches with a few lines of context, recent notes first on ties."
        ),
        group="memory",
        args_model=MemorySearchArgs,
        run=memory_search_run,
        side_effects=False,
    )
)
register_tool(
    Tool(
        name="memory_get",
        description=(
            "Read a memory file (MEMORY.md, memory.md or memory/...), optionally from a line; "
            "use it after memory_search."
        ),
        group="memory",
        args_model=MemoryGetArgs,
        run=memory_get_run,
        side_effects=False,
    )
)
