"""File tools (group:fs): read, write, edit, apply_patch and ls, confined to the workspace.

Every path goes through ``agents.tools.paths``: nothing outside the session's workspace
can be read or written, whether by ``..``, an absolute path or a symlink. write, edit and
apply_patch also ask ``paths.ensure_writable``: a sandboxed session may see the agent's
workspace read-only, or with the agent's prompt files protected.

One module per tool: ``read``, ``write`` (write and edit), ``patch`` (apply_patch; the
format itself is parsed in ``agents.lib.patch``) and ``ls``. They register here.
"""

from __future__ import annotations

from agents.tools.base import Tool
from agents.tools.base import register as register_tool
from agents.tools.fs.ls import LS_MAX_ENTRIES, LS_NO_DESCEND, LsArgs, ls_run
from agents.tools.fs.patch import PATCH_MAX_CHARS, ApplyPatchArgs, apply_patch_run
from agents.tools.fs.read import READ_MAX_BYTES, READ_PAGE_BYTES, ReadArgs, read_page, read_run
from agents.tools.fs.write import (
    EDIT_MAX_BYTES,
    WRITE_MAX_BYTES,
    EditArgs,
    WriteArgs,
    edit_run,
    write_run,
)

__all__ = [
    "EDIT_MAX_BYTES",
    "LS_MAX_ENTRIES",
    "LS_NO_DESCEND",
    "PATCH_MAX_CHARS",
    "READ_MAX_BYTES",
    "READ_PAGE_BYTES",
    "WRITE_MAX_BYTES",
    "read_page",
]

# --- registration (in this order: the order the model sees the tools in) ---------------
register_tool(
    Tool(
        name="read",
        description=(
            "Read a UTF-8 text file in the workspace. Long files come in pages; the end of a "
            "page says which offset continues."
        ),
        group="fs",
        args_model=ReadArgs,
        run=read_run,
        side_effects=False,
    )
)
register_tool(
    Tool(
        name="write",
        description=(
            "Create or overwrite a text file in the workspace with the given content "
            "(creates missing folders; at most 1 MB)."
        ),
        group="fs",
        args_model=WriteArgs,
        run=write_run,
    )
)
register_tool(
    Tool(
        name="edit",
        description=(
            "Replace one exact piece of text in a workspace file. old_text must occur exactly "
            "once; include surrounding lines to make it unique."
        ),
        group="fs",
        args_model=EditArgs,
        run=edit_run,
    )
)
register_tool(
    Tool(
        name="apply_patch",
        description=(
            "Apply a multi-file patch in OpenAI's apply_patch format to the workspace: add, "
            "update (with optional move) and delete files. Nothing changes unless every hunk "
            "applies."
        ),
        group="fs",
        args_model=ApplyPatchArgs,
        run=apply_patch_run,
    )
)
register_tool(
    Tool(
        name="ls",
        description="List a folder of the workspace (files with sizes, folders end with '/').",
        group="fs",
        args_model=LsArgs,
        run=ls_run,
        side_effects=False,
    )
)
