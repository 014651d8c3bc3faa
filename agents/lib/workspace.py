"""Agent workspaces: seed the bootstrap files, load them for the prompt, daily notes.

A workspace is a folder of Markdown files that the agent and its operator both edit
(OpenClaw's ``~/.openclaw/workspace``). The bootstrap files are injected into the system
prompt on every turn, so loading them is bounded: a per-file cap and a total cap keep one
runaway MEMORY.md from eating the context window, and a file that is a symlink pointing
out of the workspace is never read (a way to smuggle ``~/.ssh`` into the prompt).

Pure module: no Django. Templates ship as package data in ``agents/workspace_templates``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path

BOOTSTRAP_FILES = (
    "AGENTS.md",
    "SOUL.md",
    "TOOLS.md",
    "IDENTITY.md",
    "USER.md",
    "HEARTBEAT.md",
    "MEMORY.md",
)
# Seeded only into a brand-new workspace; the agent deletes it after its first-run ritual.
BOOTSTRAP_FILE = "BOOTSTRAP.md"
# Injected when present, never reported missing: MEMORY.md is optional in OpenClaw.
MEMORY_FILES = ("MEMORY.md", "memory.md")
# Files injected on every turn whose absence is worth telling the model about.
CORE_FILES = tuple(name for name in BOOTSTRAP_FILES if name != "MEMORY.md")
SUBAGENT_FILES = ("AGENTS.md", "TOOLS.md")
MEMORY_DIR = "memory"
# Every file that can reach the system prompt: what a sandboxed session with "rw" access
# to the agent's workspace may not change (it would rewrite the main session's prompt).
PROMPT_FILES = frozenset((*BOOTSTRAP_FILES, BOOTSTRAP_FILE, *MEMORY_FILES))
# Copied into a new per-session sandbox workspace, as OpenClaw's ensureSandboxWorkspace
# does: the persona and instructions, not MEMORY.md (the operator's private notes stay
# out of other people's sessions).
SANDBOX_SEED_FILES = (*CORE_FILES, BOOTSTRAP_FILE)

PER_FILE_CAP = 20_000
TOTAL_CAP = 150_000
# OpenClaw keeps the head and the tail of an over-long file: the start says what the file
# is, the end is where the newest notes were appended.
HEAD_RATIO = 0.7
TAIL_RATIO = 0.2
# Below this many characters of remaining total budget a file is omitted, not cut.
MIN_FILE_BUDGET = 400
# Files larger than this are read only at both ends (bounded work on every turn).
MAX_READ_BYTES = 2_000_000

_TEMPLATE_PACKAGE = "agents"
_TEMPLATE_DIR = "workspace_templates"
_NEWLINES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class WorkspaceFile:
    """One bootstrap file as injected into the prompt.

    ``content`` is what the model sees: the file (possibly cut) or a marker line when it
    is missing, skipped or omitted. ``size`` is the file's length in characters before
    any cut (its size in bytes when it was too large to read whole; 0 when missing).
    """

    name: str
    path: Path
    content: str
    missing: bool
    truncated: bool
    size: int


# --- creating a workspace ----------------------------------------------------------------
@functools.cache
def template_text(name: str) -> str:
    """Return the packaged template ``name`` (read once per process)."""
    return resources.files(_TEMPLATE_PACKAGE).joinpath(_TEMPLATE_DIR, name).read_text("utf-8")


def _one_line(value: str) -> str:
    """Collapse newlines and control characters so a value cannot add Markdown lines."""
    return _NEWLINES.sub(" ", value).strip()


def _render_template(name: str, *, agent_id: str, agent_name: str, emoji: str) -> str:
    text = template_text(name)
    if name != "IDENTITY.md":
        return text
    return (
        text.replace("{{name}}", _one_line(agent_name) or "*(pick one with your human)*")
        .replace("{{agent_id}}", _one_line(agent_id))
        .replace("{{emoji}}", _one_line(emoji) or "*(pick a signature emoji)*")
    )


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and ``os.replace``.

    A reader (the prompt loader on another worker) sees either no file or the whole file,
    never a half-written template.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _is_brand_new(path: Path) -> bool:
    if not path.exists():
        return True
    return path.is_dir() and next(path.iterdir(), None) is None


def workspace_ensure(path: Path, *, agent_id: str, agent_name: str = "", emoji: str = "") -> bool:
    """Create the workspace and seed the missing bootstrap files; True when it was new.

    An operator's file is never overwritten: only absent templates are written, so this is
    safe to call on every run. BOOTSTRAP.md (the first-run ritual) is written only when
    the folder did not exist or was empty, since the agent deletes it when done and must
    not be asked to bootstrap again. "New" is what the return value reports.
    """
    new = _is_brand_new(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if new:
        # mkdir's mode is filtered by the umask; the workspace holds private notes.
        path.chmod(0o700)
    (path / MEMORY_DIR).mkdir(mode=0o700, exist_ok=True)
    names = (*BOOTSTRAP_FILES, BOOTSTRAP_FILE) if new else BOOTSTRAP_FILES
    for name in names:
        target = path / name
        if os.path.lexists(target) or (name == "MEMORY.md" and (path / "memory.md").exists()):
            continue
        text = _render_template(name, agent_id=agent_id, agent_name=agent_name, emoji=emoji)
        _write_atomic(target, text)
    return new


def _copy_seed_file(source: Path, root: Path, target: Path) -> None:
    """Copy one regular file of ``root`` (not a link out of it) to ``target``, mode 0600.

    At most ``MAX_READ_BYTES`` are copied: bounded work, and far more than the prompt uses.
    """
    if not source.is_file() or not _inside(source, root):
        return
    with source.open("rb") as handle:
        data = handle.read(MAX_READ_BYTES)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def sandbox_workspace_ensure(path: Path, *, seed_from: Path) -> bool:
    """Create a per-session sandbox workspace seeded from ``seed_from``; True when new.

    The folder (mode 0700) gets copies of the agent's prompt files (``SANDBOX_SEED_FILES``
    that exist in ``seed_from``), so the session can read them and edit its own copies
    without touching the agent's. An existing sandbox workspace is left as it is. It is
    built in a temporary folder next to ``path`` and renamed into place: a concurrent
    caller sees no folder or a complete one, and a crash leaves no half-seeded one.
    """
    if path.is_dir():
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))  # 0700
    try:
        (building / MEMORY_DIR).mkdir(mode=0o700)
        for name in SANDBOX_SEED_FILES:
            with contextlib.suppress(OSError):  # unreadable: the session starts without it
                _copy_seed_file(seed_from / name, seed_from, building / name)
        try:
            os.rename(building, path)
        except OSError:
            if not path.is_dir():
                raise
            shutil.rmtree(building, ignore_errors=True)
            return False  # created meanwhile by another worker: theirs is as good
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return True


# --- loading it for the prompt -----------------------------------------------------------
def _inside(file: Path, root: Path) -> bool:
    """True when ``file`` (symlinks resolved) lies inside ``root`` (resolved)."""
    try:
        return file.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def _read_text(file: Path, *, budget: int) -> tuple[str, int]:
    """Return the file's text (invalid UTF-8 replaced) and its size.

    A file over ``MAX_READ_BYTES`` is read only at both ends, enough to fill ``budget``
    characters of head and tail; its size is then reported in bytes.
    """
    size = file.stat().st_size
    with file.open("rb") as handle:
        if size <= MAX_READ_BYTES:
            text = handle.read().decode("utf-8", errors="replace")
            return text, len(text)
        # UTF-8 needs at most 4 bytes a character; a cut character decodes to U+FFFD.
        span = 4 * budget
        head = handle.read(span)
        handle.seek(size - span)
        tail = handle.read(span)
    return (head + tail).decode("utf-8", errors="replace"), size


def _truncate(text: str, *, size: int, budget: int, name: str, path: Path) -> str:
    """Keep the head (~70 %) and tail (~20 %) of ``text`` within ``budget`` characters."""

    def marker(cut: int) -> str:
        return (
            f"[... {cut} of {size} characters cut from the middle of {name}. "
            f"Read the whole file with the read tool: {path} ...]"
        )

    # The marker's length depends on the cut; size is an upper bound on it.
    room = max(0, budget - len(marker(size)) - 2)
    head = min(int(budget * HEAD_RATIO), room * 7 // 9)
    tail = min(int(budget * TAIL_RATIO), room - head)
    tail_text = text[len(text) - tail :] if tail else ""
    return f"{text[:head]}\n{marker(max(0, size - head - tail))}\n{tail_text}"


def _marker_file(name: str, path: Path, content: str, *, truncated: bool = False) -> WorkspaceFile:
    return WorkspaceFile(name, path, content, missing=not truncated, truncated=truncated, size=0)


def _load_one(name: str, file: Path, root: Path, *, budget: int) -> WorkspaceFile:
    """Load one file within ``budget`` characters, or a marker saying why not."""
    if not file.exists() and not file.is_symlink():
        return _marker_file(name, file, f"[MISSING] Expected at: {file}")
    if not _inside(file, root):
        return _marker_file(
            name, file, f"[SKIPPED] {name} is a link pointing outside the workspace; not loaded."
        )
    if budget < MIN_FILE_BUDGET:
        return _marker_file(
            name,
            file,
            f"[OMITTED] {name}: the limit for injected workspace files was reached. "
            f"Read it with the read tool: {file}",
            truncated=True,
        )
    try:
        text, size = _read_text(file, budget=budget)
    except (OSError, ValueError):
        return _marker_file(name, file, f"[UNREADABLE] {name} could not be read at: {file}")
    if len(text) <= budget and size == len(text):
        return WorkspaceFile(name, file, text, missing=False, truncated=False, size=size)
    content = _truncate(text, size=size, budget=budget, name=name, path=file)
    return WorkspaceFile(name, file, content, missing=False, truncated=True, size=size)


def _memory_names(root: Path) -> list[str]:
    """MEMORY.md and/or memory.md, once each even on a case-insensitive file system."""
    found: list[str] = []
    for name in MEMORY_FILES:
        file = root / name
        if not (file.exists() or file.is_symlink()):
            continue
        if found and file.exists() and _same_file(file, root / found[0]):
            continue
        found.append(name)
    return found


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def bootstrap_file_names(path: Path, *, subagent: bool = False) -> list[str]:
    """The files to inject, in OpenClaw's order, for this workspace."""
    if subagent:
        return list(SUBAGENT_FILES)
    names = list(CORE_FILES)
    if (path / BOOTSTRAP_FILE).exists():
        names.append(BOOTSTRAP_FILE)
    names.extend(_memory_names(path))
    return names


def load_bootstrap_files(
    path: Path,
    *,
    per_file_cap: int = PER_FILE_CAP,
    total_cap: int = TOTAL_CAP,
    subagent: bool = False,
) -> list[WorkspaceFile]:
    """Load the bootstrap files for the system prompt, within OpenClaw's caps.

    A file over ``per_file_cap`` characters keeps its head and tail around a marker line;
    once ``total_cap`` is nearly spent, later files are cut further and then omitted with
    a marker. Missing core files yield ``[MISSING] Expected at: <path>`` so the model
    knows where to create them; subagents only get AGENTS.md and TOOLS.md.
    """
    remaining = total_cap
    loaded: list[WorkspaceFile] = []
    for name in bootstrap_file_names(path, subagent=subagent):
        item = _load_one(name, path / name, path, budget=min(per_file_cap, remaining))
        if not item.missing and item.size:
            remaining = max(0, remaining - len(item.content))
        loaded.append(item)
    return loaded


# --- daily notes -------------------------------------------------------------------------
def daily_note_path(path: Path, day: date) -> Path:
    """``<workspace>/memory/YYYY-MM-DD.md``: the agent's notes for ``day``."""
    return path / MEMORY_DIR / f"{day.isoformat()}.md"


def daily_note_append(path: Path, text: str, *, now: datetime) -> Path:
    """Append a ``## HH:MM`` entry to the daily note of ``now`` (local time); return its path.

    The file is created with a ``# YYYY-MM-DD`` heading the first time; appends use
    ``O_APPEND`` so two writers never overwrite each other's entries.
    """
    body = text.strip()
    if not body:
        raise ValueError("a daily note entry needs some text")
    note = daily_note_path(path, now.date())
    note.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError), note.open("x", encoding="utf-8") as handle:
        handle.write(f"# {now.date().isoformat()}\n")
    with note.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## {now:%H:%M}\n\n{body}\n")
    return note
