"""The ls tool: a workspace folder as a tree, with sizes, up to three levels deep."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from pydantic import Field

from agents.tools import paths
from agents.tools.base import ToolArgs, ToolContext, ToolOutput

LS_MAX_ENTRIES = 500
# Folders ls shows but does not descend into: large and rarely what the model wants.
LS_NO_DESCEND = frozenset({".git", "node_modules", "__pycache__", ".venv"})


class LsArgs(ToolArgs):
    path: str = Field(default=".", description="Folder to list, relative to the workspace.")
    depth: int = Field(
        default=1, ge=1, le=3, description="How many levels to descend (1 to 3, default 1)."
    )


def _size(n: int) -> str:
    if n < 1_000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1_000:.1f} KB"
    return f"{n / 1_000_000:.1f} MB"


@dataclass
class _Listing:
    room: int  # how many more entries may be shown
    lines: list[str] = field(default_factory=list)
    left_out: int = 0


def _list(dirfd: int, depth: int, indent: str, listing: _Listing) -> None:
    with os.scandir(dirfd) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if listing.room <= 0:
            listing.left_out += 1
            continue
        listing.room -= 1
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(entry.name, dir_fd=dirfd)
            except OSError:
                target = "?"
            listing.lines.append(f"{indent}{entry.name} -> {target}")
        elif stat.S_ISDIR(st.st_mode):
            listing.lines.append(f"{indent}{entry.name}/")
            if depth > 1 and entry.name not in LS_NO_DESCEND:
                _list_child(dirfd, entry.name, depth - 1, indent + "  ", listing)
        else:
            listing.lines.append(f"{indent}{entry.name} ({_size(st.st_size)})")


def _list_child(dirfd: int, name: str, depth: int, indent: str, listing: _Listing) -> None:
    try:
        child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dirfd)
    except OSError:
        listing.lines.append(f"{indent}(cannot be listed)")
        return
    try:
        _list(child, depth, indent, listing)
    finally:
        os.close(child)


def ls_run(ctx: ToolContext, args: LsArgs) -> ToolOutput:
    wp = paths.resolve(ctx.workspace, args.path)
    dirfd = paths.open_dir(wp)
    listing = _Listing(room=LS_MAX_ENTRIES)
    try:
        with paths.os_errors(wp.shown):
            _list(dirfd, args.depth, "", listing)
    finally:
        os.close(dirfd)
    meta = {"path": wp.shown, "entries": len(listing.lines)}
    if not listing.lines:
        return ToolOutput(f"{wp.shown} is empty", meta=meta)
    if listing.left_out:
        listing.lines.append(
            f"[... {listing.left_out} more entries not shown; list a subfolder or use a "
            "smaller depth]"
        )
    header = "./" if wp.shown == "." else f"{wp.shown}/"
    return ToolOutput("\n".join([header, *listing.lines]), meta=meta)
