"""The write and edit tools: whole-file writes and one exact replacement."""

from __future__ import annotations

from pydantic import Field

from agents.tools import paths
from agents.tools.base import ToolArgs, ToolContext, ToolError, ToolOutput

WRITE_MAX_BYTES = 1_000_000
# edit and apply_patch load whole files; past this size, exec with sed is the right tool.
EDIT_MAX_BYTES = 10_000_000


class WriteArgs(ToolArgs):
    path: str = Field(description="File to write, relative to the workspace.")
    content: str = Field(description="The whole new content of the file (UTF-8 text).")


def write_run(ctx: ToolContext, args: WriteArgs) -> ToolOutput:
    data = args.content.encode("utf-8")
    if len(data) > WRITE_MAX_BYTES:
        raise ToolError(
            f"content is {len(data)} bytes, over the {WRITE_MAX_BYTES // 1_000_000} MB limit "
            "of write; write the file in parts (write the first part, then append with exec)"
        )
    wp = paths.resolve(ctx.workspace, args.path)
    paths.ensure_writable(ctx, wp)
    existed = paths.exists(wp)
    paths.write_bytes(wp, data)
    verb = "overwrote" if existed else "created"
    return ToolOutput(f"{verb} {wp.shown} ({len(data)} bytes)", meta={"path": wp.shown})


# --- edit ------------------------------------------------------------------------------
class EditArgs(ToolArgs):
    path: str = Field(description="File to edit, relative to the workspace.")
    old_text: str = Field(
        description="Exact text to replace; must occur exactly once in the file "
        "(whitespace and indentation included)."
    )
    new_text: str = Field(description="Text to put in its place.")


def read_text(wp: paths.WorkspacePath) -> str:
    return paths.decode_utf8(paths.read_bytes(wp, max_bytes=EDIT_MAX_BYTES), wp.shown)


def edit_run(ctx: ToolContext, args: EditArgs) -> ToolOutput:
    if not args.old_text:
        raise ToolError("old_text is empty; give the exact text to replace")
    wp = paths.resolve(ctx.workspace, args.path)
    paths.ensure_writable(ctx, wp)
    text = read_text(wp)
    count = text.count(args.old_text)
    if count == 0:
        raise ToolError(
            f"old_text was not found in {wp.shown}; read the file and copy the text exactly "
            "(whitespace and indentation matter)"
        )
    if count > 1:
        raise ToolError(
            f"old_text occurs {count} times in {wp.shown}; include more surrounding lines "
            "so it matches exactly once"
        )
    updated = text.replace(args.old_text, args.new_text, 1)
    data = updated.encode("utf-8")
    if len(data) > EDIT_MAX_BYTES:
        raise ToolError(f"the edited file would exceed {EDIT_MAX_BYTES // 1_000_000} MB")
    paths.write_bytes(wp, data)
    line = text[: text.index(args.old_text)].count("\n") + 1
    return ToolOutput(f"edited {wp.shown} at line {line}", meta={"path": wp.shown, "line": line})
