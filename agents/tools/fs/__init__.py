"""File tools (group:fs): read, write, edit, apply_patch and ls, confined to the workspace.

Every path goes through ``agents.tools.paths``: nothing outside the session's workspace
can be read or written, whether by ``..``, an absolute path or a symlink. write, edit and
apply_patch also ask ``paths.ensure_writable``: a sandboxed session may see the agent's
workspace read-only, or with the agent's prompt files protected.
"""

from __future__ import annotations

import contextlib
import os
import stat
import unicodedata
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from pydantic import Field

from agents.tools import paths
from agents.tools.base import MAX_RESULT_CHARS, Tool, ToolArgs, ToolContext, ToolError, ToolOutput
from agents.tools.base import register as register_tool

READ_MAX_BYTES = 200_000
# execute() cuts any result at MAX_RESULT_CHARS; a read page stays under it so the
# "call read with offset=N" hint at its end always reaches the model.
READ_PAGE_BYTES = min(READ_MAX_BYTES, MAX_RESULT_CHARS - 1_000)
WRITE_MAX_BYTES = 1_000_000
# edit and apply_patch load whole files; past this size, exec with sed is the right tool.
EDIT_MAX_BYTES = 10_000_000
PATCH_MAX_CHARS = 1_000_000
LS_MAX_ENTRIES = 500
# Folders ls shows but does not descend into: large and rarely what the model wants.
LS_NO_DESCEND = frozenset({".git", "node_modules", "__pycache__", ".venv"})


# --- read ------------------------------------------------------------------------------
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


# --- write -----------------------------------------------------------------------------
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


def _read_text(wp: paths.WorkspacePath) -> str:
    return paths.decode_utf8(paths.read_bytes(wp, max_bytes=EDIT_MAX_BYTES), wp.shown)


def edit_run(ctx: ToolContext, args: EditArgs) -> ToolOutput:
    if not args.old_text:
        raise ToolError("old_text is empty; give the exact text to replace")
    wp = paths.resolve(ctx.workspace, args.path)
    paths.ensure_writable(ctx, wp)
    text = _read_text(wp)
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


# --- apply_patch (OpenAI's format) -----------------------------------------------------
class ApplyPatchArgs(ToolArgs):
    input: str = Field(
        description="The patch, from '*** Begin Patch' to '*** End Patch'. Sections: "
        "'*** Add File: <path>' followed by '+' lines; '*** Delete File: <path>'; "
        "'*** Update File: <path>' (optionally '*** Move to: <new path>') followed by hunks "
        "that start with '@@' (optionally '@@ <a line to find first>') and contain lines "
        "starting with ' ' (context), '-' (remove) or '+' (add). Paths are relative to the "
        "workspace. All hunks are checked before any file changes."
    )


@dataclass
class _Chunk:
    anchor: str | None  # the text after "@@ ": a line to find before the hunk
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    at_eof: bool = False


@dataclass
class _FileOp:
    kind: Literal["add", "update", "delete"]
    path: str
    line_no: int
    move_to: str | None = None
    added: list[str] = field(default_factory=list)
    chunks: list[_Chunk] = field(default_factory=list)


_BEGIN, _END = "*** Begin Patch", "*** End Patch"
_ADD, _DELETE, _UPDATE, _MOVE = (
    "*** Add File: ",
    "*** Delete File: ",
    "*** Update File: ",
    "*** Move to: ",
)
_EOF = "*** End of File"


def _patch_error(line_no: int, message: str) -> ToolError:
    return ToolError(f"patch line {line_no}: {message}")


def _parse_update_body(op: _FileOp, lines: list[str], i: int) -> int:
    """Parse the hunks of an Update File section from ``lines[i]``; return the next index."""
    chunk: _Chunk | None = None
    while i < len(lines) and (not lines[i].startswith("*** ") or lines[i] == _EOF):
        line = lines[i]
        if line == _EOF:
            if chunk is None:
                raise _patch_error(i + 1, "'*** End of File' before any hunk")
            chunk.at_eof = True
        elif line.startswith("@@"):
            chunk = _Chunk(anchor=line[2:].strip() or None)
            op.chunks.append(chunk)
        elif line[:1] in (" ", "-", "+", ""):
            if chunk is None:  # the first hunk may omit its "@@" line
                chunk = _Chunk(anchor=None)
                op.chunks.append(chunk)
            mark, body = (line[:1] or " "), line[1:]
            if mark != "+":
                chunk.old.append(body)
            if mark != "-":
                chunk.new.append(body)
        else:
            raise _patch_error(
                i + 1,
                f"{line[:60]!r} does not start with ' ', '-', '+' or '@@'; every hunk line "
                "needs one of these prefixes",
            )
        i += 1
    for chunk in op.chunks:
        if not chunk.old and not chunk.new:
            raise _patch_error(op.line_no, f"a hunk for {op.path} has no lines")
    if not op.chunks and op.move_to is None:
        raise _patch_error(op.line_no, f"Update File {op.path} has no hunks")
    return i


def _parse_op(lines: list[str], i: int) -> tuple[_FileOp, int]:
    """Parse the file section starting at ``lines[i]``; return it and the next index."""
    line, line_no = lines[i], i + 2  # +2: the Begin Patch line was dropped, 1-based
    if line.startswith(_ADD):
        op = _FileOp("add", line[len(_ADD) :].strip(), line_no)
        i += 1
        while i < len(lines) and not lines[i].startswith("*** "):
            if not lines[i].startswith("+"):
                raise _patch_error(i + 2, "every line of an added file must start with '+'")
            op.added.append(lines[i][1:])
            i += 1
    elif line.startswith(_DELETE):
        op = _FileOp("delete", line[len(_DELETE) :].strip(), line_no)
        i += 1
    elif line.startswith(_UPDATE):
        op = _FileOp("update", line[len(_UPDATE) :].strip(), line_no)
        i += 1
        if i < len(lines) and lines[i].startswith(_MOVE):
            op.move_to = lines[i][len(_MOVE) :].strip()
            i += 1
        i = _parse_update_body(op, lines, i)
    else:
        raise _patch_error(
            line_no,
            f"expected '*** Add File: ', '*** Update File: ' or '*** Delete File: ', "
            f"got {line[:60]!r}",
        )
    if not op.path:
        raise _patch_error(line_no, "the file path is missing")
    return op, i


def parse_patch(text: str) -> list[_FileOp]:
    """Parse OpenAI's apply_patch format into file operations (no file is touched)."""
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() != _BEGIN:
        raise ToolError(f"the patch must start with a '{_BEGIN}' line")
    if lines[-1].strip() != _END:
        raise ToolError(f"the patch must end with a '{_END}' line")
    lines = lines[1:-1]
    ops: list[_FileOp] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        op, i = _parse_op(lines, i)
        ops.append(op)
    if not ops:
        raise ToolError("the patch changes no files")
    return ops


_PUNCTUATION = str.maketrans(
    {
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
        "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u202f": " ",
    }
)  # fmt: skip


def _loose(line: str) -> str:
    return unicodedata.normalize("NFC", line).translate(_PUNCTUATION).strip()


def _seek(lines: list[str], pattern: list[str], start: int, *, at_eof: bool) -> int | None:
    """Index where ``pattern`` occurs in ``lines`` at or after ``start``, or None.

    Tries an exact match first, then ignoring trailing whitespace, then ignoring surrounding
    whitespace and typographic punctuation (models often retype quotes and dashes).
    """
    last = len(lines) - len(pattern)
    if last < start:
        return None
    starts = [last, *range(start, last + 1)] if at_eof else range(start, last + 1)
    for norm in (lambda s: s, str.rstrip, _loose):
        wanted = [norm(p) for p in pattern]
        for idx in starts:
            if all(norm(lines[idx + k]) == wanted[k] for k in range(len(pattern))):
                return idx
    return None


def _split_lines(text: str) -> tuple[list[str], bool]:
    if not text:
        return [], True
    lines = text.split("\n")
    if lines[-1] == "":
        return lines[:-1], True
    return lines, False


def apply_chunks(text: str, chunks: list[_Chunk], shown: str) -> str:
    """Return ``text`` with the hunks applied; raise ``ToolError`` naming a hunk that misses."""
    lines, trailing_newline = _split_lines(text)
    replacements: list[tuple[int, int, list[str]]] = []
    cursor = 0
    for number, chunk in enumerate(chunks, 1):
        if chunk.anchor is not None:
            found = _seek(lines, [chunk.anchor], cursor, at_eof=False)
            if found is None:
                raise ToolError(
                    f"hunk {number} for {shown}: the '@@ {chunk.anchor[:80]}' line was not "
                    "found; read the file and copy that line exactly"
                )
            cursor = found + 1
        if not chunk.old:
            where = cursor if chunk.anchor is not None else len(lines)
            replacements.append((where, 0, chunk.new))
            continue
        old, new = chunk.old, chunk.new
        found = _seek(lines, old, cursor, at_eof=chunk.at_eof)
        if found is None and old[-1] == "":  # a trailing blank context line the file lacks
            old = old[:-1]
            new = new[:-1] if new and new[-1] == "" else new
            found = _seek(lines, old, cursor, at_eof=chunk.at_eof) if old else None
        if found is None:
            preview = "\n".join(chunk.old[:5])
            raise ToolError(
                f"hunk {number} for {shown} does not match the file: these lines were not "
                f"found (after line {cursor}):\n{preview}\nRead the file and copy the "
                "context and '-' lines exactly."
            )
        replacements.append((found, len(old), new))
        cursor = found + len(old)
    for where, count, new in sorted(replacements, key=lambda r: r[0], reverse=True):
        lines[where : where + count] = new
    result = "\n".join(lines)
    return result + "\n" if lines and trailing_newline else result


@dataclass(frozen=True)
class _Change:
    wp: paths.WorkspacePath
    data: bytes | None  # None: delete the file


def _plan(ctx: ToolContext, ops: list[_FileOp]) -> tuple[list[_Change], list[str]]:
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
            updated = apply_chunks(_read_text(wp), op.chunks, wp.shown)
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
    changes, summary = _plan(ctx, parse_patch(args.input))
    _apply(changes)
    return ToolOutput(
        "Success. Updated the following files:\n" + "\n".join(summary),
        meta={"files": [line[2:] for line in summary]},
    )


# --- ls --------------------------------------------------------------------------------
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


# --- registration ----------------------------------------------------------------------
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
