"""What the sandbox hides and binds: the host folders under tmpfs, the protected files.

The gateway's data dir (which holds secret files) and ``/run`` (with ``/var/run``: the
host's Unix sockets, Docker's, PostgreSQL's, D-Bus's) are hidden under empty tmpfs
mounts. The session's protected files (the agent's prompt files) are bound read-only on
top of a writable workspace, and every folder between the workspace and such a file is
bound on itself: a mount point cannot be renamed or removed (EBUSY), so ``rm``, ``mv``
and ``>`` on SOUL.md all fail, and so does moving its folder away.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Collection, Sequence
from pathlib import Path, PurePosixPath

from agents.tools.sandbox.launchers import PRELUDE, interpreter
from agents.tools.sandbox.prelude import under

logger = logging.getLogger(__name__)

# Host folders of Unix sockets and pid files; /var/run is usually a link to /run.
HOST_RUN_DIRS = ("/run", "/var/run")


class ProtectedFileError(Exception):
    """A protected file cannot be protected by a mount; ``str()`` says why and what to do."""


def hideable(paths: Sequence[Path]) -> list[str]:
    """The folders to hide, minus any that hold the Python or prelude the sandbox runs."""
    needed = [Path(interpreter()), PRELUDE]
    out = []
    for path in paths:
        real = Path(os.path.realpath(path))
        if real == Path("/") or not real.is_dir():
            continue
        if any(real == n or real in n.parents for n in needed):
            logger.warning("sandbox: not hiding %s, it holds the Python the sandbox runs", real)
            continue
        out.append(str(real))
    return out


def run_dirs() -> list[str]:
    """The host's /run and /var/run as real folders (usually one: /var/run links to /run).

    Hidden whatever they hold: a read-only mount does not stop ``connect()`` on a socket.
    """
    return [os.path.realpath(p) for p in HOST_RUN_DIRS if os.path.isdir(p)]


def outermost(paths: Sequence[str]) -> list[str]:
    """``paths`` without duplicates and without those inside another one, in order."""
    out: list[str] = []
    for path in paths:
        if not any(under(path, kept) for kept in out):
            out = [p for p in out if not under(p, path)] + [path]
    return out


def _other_link_in(workspace: Path, target: os.stat_result, path: Path) -> Path | None:
    """Another name of the file ``target`` inside ``workspace``, if any (a hard link)."""
    for folder, _dirs, files in os.walk(workspace):
        for name in files:
            candidate = Path(folder) / name
            if candidate == path:
                continue
            try:
                info = os.lstat(candidate)
            except OSError:
                continue
            if (info.st_dev, info.st_ino) == (target.st_dev, target.st_ino):
                return candidate
    return None


def protected_mounts(workspace: Path, protected: Collection[str]) -> tuple[list[str], list[str]]:
    """Return (folders to pin, files to bind read-only) protecting ``protected``.

    ``protected`` are paths relative to ``workspace`` (a real path). Missing ones are
    skipped: a mount needs something to mount over. Raises ``ProtectedFileError`` when a
    file cannot be protected this way: a symbolic link (the link itself could be
    replaced) or a file with another hard link in the workspace (writable through it).
    """
    pins: list[str] = []
    files: list[str] = []
    for rel in sorted(protected):
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise ProtectedFileError(f"protected file {rel!r} is not a path inside the workspace")
        chain = [workspace.joinpath(*parts[:i]) for i in range(1, len(parts) + 1)]
        for path in chain:
            try:
                info = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                break  # missing: nothing to mount over (see the docstring)
            shown = path.relative_to(workspace).as_posix()
            if stat.S_ISLNK(info.st_mode):
                raise ProtectedFileError(
                    f"{shown} is a symbolic link, which a sandboxed session could replace; "
                    f"the agent's prompt file {rel} cannot be protected. Replace the link "
                    "with a copy of the file, or set the agent's sandbox workspace access "
                    "to 'ro' or 'none'"
                )
            if path != chain[-1]:
                if not stat.S_ISDIR(info.st_mode):
                    break
                if str(path) not in pins:
                    pins.append(str(path))
                continue
            if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                other = _other_link_in(workspace, info, path)
                if other is not None:
                    raise ProtectedFileError(
                        f"{rel} has a second name in the workspace "
                        f"({other.relative_to(workspace).as_posix()}, a hard link), through "
                        "which a sandboxed session could change it; delete that link from "
                        "the main session or the host"
                    )
            files.append(str(path))
    return pins, files
