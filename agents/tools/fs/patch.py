"""The apply_patch tool (OpenAI's format): every hunk is checked before any file changes.

Parsing and hunk matching are pure (``agents.lib.patch``); here the files are read,
every change is planned, then written, and put back if a write fails part-way.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from pydantic import Field

from agents.lib.patch import FileOp, PatchError, apply_chunks, parse_patch
from agents.tools import paths
from agents.tools.base import ToolArgs, ToolContext, ToolError, ToolOutput
from agents.tools.fs.write import EDIT_MAX_BYTES, read_text

PATCH_MAX_CHARS = 1_000_000


class ApplyPatchArgs(ToolArgs):
    input: str = Field(
        description="The patch, from '*** Begin Patch' to '*** End Patch'. Sections: "
        "'*** Add File: <path>' followed by '+' lines; '*** Delete File: <path>'; "
        "'*** Update File: <path>' (optionally '*** Move to: <new path>') followed by hunks "
        "that start with '@@' (optionally '@@ <a line to find first>') and contain lines "
        "starting with ' ' (context), '-' (remove) or '+' (add). Paths are relative to the "
        "workspace. All hunks are checked before any file changes."
    )


@dataclass(frozen=True)
class _Change:
    wp: paths.WorkspacePath
    data: bytes | None  # None: delete the file


def _plan(ctx: ToolContext, ops: list[FileOp]) -> tuple[list[_Change], list[str]]:
    """Check every operation and compute every new file; touch nothing."""
    changes: list[_Change] = []
    summary: list[str] = []
    seen: set[str] = set()

    def claim(path: str) -> paths.WorkspacePath:
        wp = paths.resolve(ctx.workspace, path)
        paths.ensure_writable(ctx, wp)  # every path a patch names is changed (or deleted)
        if wp.shown in seen:
            raise ToolError(f"the patch changes {wp.shown} twice; merge those sections")
        seen.add(wp.shown)
        return wp

    for op in ops:
        wp = claim(op.path)
        if op.kind == "add":
            if paths.exists(wp):
                raise ToolError(f"{wp.shown} already exists; use '*** Update File:' to change it")
            body = "\n".join(op.added) + "\n" if op.added else ""
            changes.append(_Change(wp, body.encode("utf-8")))
            summary.append(f"A {wp.shown}")
        elif op.kind == "delete":
            os.close(paths.open_regular(wp))  # refuses a missing file or a folder
            changes.append(_Change(wp, None))
            summary.append(f"D {wp.shown}")
        else:
            updated = apply_chunks(read_text(wp), op.chunks, wp.shown)
            data = updated.encode("utf-8")
            if len(data) > EDIT_MAX_BYTES:
                raise ToolError(f"{wp.shown} would exceed {EDIT_MAX_BYTES // 1_000_000} MB")
            if op.move_to is None:
                changes.append(_Change(wp, data))
                summary.append(f"M {wp.shown}")
                continue
            dest = claim(op.move_to)
            if paths.exists(dest):
                raise ToolError(f"cannot move {wp.shown} to {dest.shown}: it already exists")
            changes.extend([_Change(dest, data), _Change(wp, None)])
            summary.append(f"R {wp.shown} -> {dest.shown}")
    return changes, summary


def _apply(changes: list[_Change]) -> None:
    """Write every change; on a failure part-way, put back what was already changed."""
    undo: list[_Change] = []
    try:
        for change in changes:
            before = (
                paths.read_bytes(change.wp, max_bytes=EDIT_MAX_BYTES)
                if paths.exists(change.wp)
                else None
            )
            if change.data is None:
                paths.unlink(change.wp)
            else:
                paths.write_bytes(change.wp, change.data)
            undo.append(_Change(change.wp, before))
    except BaseException:
        for done in reversed(undo):
            with contextlib.suppress(ToolError, OSError):
                if done.data is None:
                    paths.unlink(done.wp)
                else:
                    paths.write_bytes(done.wp, done.data)
        raise


def apply_patch_run(ctx: ToolContext, args: ApplyPatchArgs) -> ToolOutput:
    if len(args.input) > PATCH_MAX_CHARS:
        raise ToolError(
            f"the patch is over {PATCH_MAX_CHARS} characters; split it into smaller patches"
        )
    try:
        changes, summary = _plan(ctx, parse_patch(args.input))
    except PatchError as exc:
        raise ToolError(str(exc)) from exc
    _apply(changes)
    return ToolOutput(
        "Success. Updated the following files:\n" + "\n".join(summary),
        meta={"files": [line[2:] for line in summary]},
    )
