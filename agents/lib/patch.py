"""OpenAI's apply_patch format: parse a patch and apply its hunks to a text (pure).

No file is touched here: ``parse_patch`` turns the text into file operations and
``apply_chunks`` computes one file's new text. Both raise ``PatchError`` with a message
for the model (which line, what was expected, what to do); the apply_patch tool
(``agents.tools.fs.patch``) reads and writes the files.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Literal


class PatchError(ValueError):
    """A patch that cannot be parsed or applied; ``str()`` tells the model what to fix."""


@dataclass
class Chunk:
    anchor: str | None  # the text after "@@ ": a line to find before the hunk
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    at_eof: bool = False


@dataclass
class FileOp:
    kind: Literal["add", "update", "delete"]
    path: str
    line_no: int
    move_to: str | None = None
    added: list[str] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)


_BEGIN, _END = "*** Begin Patch", "*** End Patch"
_ADD, _DELETE, _UPDATE, _MOVE = (
    "*** Add File: ",
    "*** Delete File: ",
    "*** Update File: ",
    "*** Move to: ",
)
_EOF = "*** End of File"


def _patch_error(line_no: int, message: str) -> PatchError:
    return PatchError(f"patch line {line_no}: {message}")


def _parse_update_body(op: FileOp, lines: list[str], i: int) -> int:
    """Parse the hunks of an Update File section from ``lines[i]``; return the next index."""
    chunk: Chunk | None = None
    while i < len(lines) and (not lines[i].startswith("*** ") or lines[i] == _EOF):
        line = lines[i]
        if line == _EOF:
            if chunk is None:
                raise _patch_error(i + 1, "'*** End of File' before any hunk")
            chunk.at_eof = True
        elif line.startswith("@@"):
            chunk = Chunk(anchor=line[2:].strip() or None)
            op.chunks.append(chunk)
        elif line[:1] in (" ", "-", "+", ""):
            if chunk is None:  # the first hunk may omit its "@@" line
                chunk = Chunk(anchor=None)
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


def _parse_op(lines: list[str], i: int) -> tuple[FileOp, int]:
    """Parse the file section starting at ``lines[i]``; return it and the next index."""
    line, line_no = lines[i], i + 2  # +2: the Begin Patch line was dropped, 1-based
    if line.startswith(_ADD):
        op = FileOp("add", line[len(_ADD) :].strip(), line_no)
        i += 1
        while i < len(lines) and not lines[i].startswith("*** "):
            if not lines[i].startswith("+"):
                raise _patch_error(i + 2, "every line of an added file must start with '+'")
            op.added.append(lines[i][1:])
            i += 1
    elif line.startswith(_DELETE):
        op = FileOp("delete", line[len(_DELETE) :].strip(), line_no)
        i += 1
    elif line.startswith(_UPDATE):
        op = FileOp("update", line[len(_UPDATE) :].strip(), line_no)
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


def parse_patch(text: str) -> list[FileOp]:
    """Parse OpenAI's apply_patch format into file operations (no file is touched)."""
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() != _BEGIN:
        raise PatchError(f"the patch must start with a '{_BEGIN}' line")
    if lines[-1].strip() != _END:
        raise PatchError(f"the patch must end with a '{_END}' line")
    lines = lines[1:-1]
    ops: list[FileOp] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        op, i = _parse_op(lines, i)
        ops.append(op)
    if not ops:
        raise PatchError("the patch changes no files")
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


def apply_chunks(text: str, chunks: list[Chunk], shown: str) -> str:
    """Return ``text`` with the hunks applied; raise ``PatchError`` naming a hunk that misses."""
    lines, trailing_newline = _split_lines(text)
    replacements: list[tuple[int, int, list[str]]] = []
    cursor = 0
    for number, chunk in enumerate(chunks, 1):
        if chunk.anchor is not None:
            found = _seek(lines, [chunk.anchor], cursor, at_eof=False)
            if found is None:
                raise PatchError(
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
            raise PatchError(
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
