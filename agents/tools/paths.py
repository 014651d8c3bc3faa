"""Confine tool paths to the agent's workspace.

Workspaces live in ``<data dir>/workspaces/<agent>``, next to files holding secrets, so a
path the model gives is checked twice: lexically (no ``..`` escape, no absolute path
outside the workspace) and after ``realpath`` (no symlink, in any component, that leads
out). Files are then opened by walking the checked components from a directory fd with
``O_NOFOLLOW`` on each one, so a component swapped for a symlink between the check and
the open (say by a background command) makes the open fail instead of escaping.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from agents.tools.base import ToolContext, ToolError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class WorkspacePath:
    """A path checked to be inside the workspace, with every symlink already resolved."""

    root: Path  # the workspace's real path
    parts: tuple[str, ...]  # components below ``root``: no "..", no symlinks
    shown: str  # how results name it: relative to the workspace, "." for the root

    @property
    def real(self) -> Path:
        return self.root.joinpath(*self.parts)


def workspace_root(workspace: Path) -> Path:
    """Return the workspace's real path, creating the folder on first use."""
    workspace.mkdir(parents=True, exist_ok=True)
    return Path(os.path.realpath(workspace))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _outside(path: str) -> ToolError:
    return ToolError(
        f"path {path!r} is outside the workspace; use a path inside it "
        "(relative to the workspace, e.g. 'notes/todo.md')"
    )


def resolve(workspace: Path, path: str) -> WorkspacePath:
    """Return ``path`` checked to be inside ``workspace``; raise ``ToolError`` otherwise.

    Relative paths are taken from the workspace. Absolute paths are accepted only when
    they point into it (by the path it was configured with or by its real path).
    """
    if not path.strip():
        raise ToolError("the path is empty; give a path relative to the workspace")
    if "\x00" in path:
        raise ToolError("the path contains a NUL character; remove it")
    root = workspace_root(workspace)
    given = Path(path)
    if given.is_absolute():
        lexical = Path(os.path.normpath(given))
        configured = Path(os.path.normpath(os.path.abspath(workspace)))
        base = next((b for b in (root, configured) if _inside(lexical, b)), None)
        if base is None:
            raise _outside(path)
        relative = lexical.relative_to(base)
    else:
        lexical = Path(os.path.normpath(root / given))
        if not _inside(lexical, root):
            raise _outside(path)
        relative = lexical.relative_to(root)
    real = Path(os.path.realpath(root / relative))
    if not _inside(real, root):
        raise ToolError(
            f"path {path!r} leads outside the workspace through a symlink; "
            "use a path inside the workspace that is not a link to elsewhere"
        )
    parts = real.relative_to(root).parts
    shown = PurePosixPath(*parts).as_posix() if parts else "."
    return WorkspacePath(root=root, parts=parts, shown=shown)


def ensure_writable(ctx: ToolContext, wp: WorkspacePath) -> None:
    """Raise ``ToolError`` when this session may not create, change or delete ``wp``.

    ``wp`` has every symlink resolved, so ``./SOUL.md``, ``sub/../SOUL.md`` and a link
    to SOUL.md all name SOUL.md here. Refuses everything under "ro" workspace access, and
    the session's protected files (the agent's prompt files, in a sandboxed session with
    "rw" access); compared case-insensitively, for case-insensitive file systems.
    """
    if ctx.workspace_access == "ro":
        raise ToolError(
            f"cannot change {wp.shown}: this sandboxed session sees the agent's workspace "
            "read-only (sandbox workspace access 'ro'); read files only. An operator can "
            "allow writing with agents.list[N].sandbox.workspaceAccess 'rw' or 'none'"
        )
    if not ctx.protected_files or not wp.parts:
        return
    protected = {PurePosixPath(p).as_posix().strip("/").casefold() for p in ctx.protected_files}
    if wp.shown.casefold() in protected:
        raise ToolError(
            f"cannot change {wp.shown}: it is one of the agent's prompt files (AGENTS.md, "
            "SOUL.md, TOOLS.md, ...), which a sandboxed session may not change; write other "
            "files. The operator edits prompt files from the main session or the host"
        )


@contextlib.contextmanager
def os_errors(shown: str) -> Iterator[None]:
    """Turn the ``OSError``s of a file operation on ``shown`` into clear ``ToolError``s."""
    try:
        yield
    except FileNotFoundError:
        raise ToolError(f"{shown} does not exist; check the path (ls lists a folder)") from None
    except IsADirectoryError:
        raise ToolError(f"{shown} is a directory, not a file; use ls to list it") from None
    except NotADirectoryError:
        raise ToolError(f"a part of {shown} is a file, not a directory; check the path") from None
    except PermissionError:
        raise ToolError(f"permission denied for {shown}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ToolError(
                f"{shown} is (or goes through) a symlink that changed while it was being "
                "opened; symlinks are not followed here"
            ) from None
        raise ToolError(f"{shown}: {exc.strerror or exc}") from None


def _open_subdir(dirfd: int, name: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dirfd)
    except NotADirectoryError:
        # O_NOFOLLOW | O_DIRECTORY on a symlink fails with ENOTDIR; say what really happened.
        if stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "is a symlink") from None
        raise


def _walk(root: Path, parts: tuple[str, ...], *, create: bool) -> int:
    """Open the directory ``root/parts`` one component at a time, never following links."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            try:
                child = _open_subdir(fd, part)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):  # created concurrently
                    os.mkdir(part, 0o777, dir_fd=fd)
                child = _open_subdir(fd, part)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_dir(wp: WorkspacePath) -> int:
    """Return a directory fd for ``wp`` (the caller closes it)."""
    with os_errors(wp.shown):
        return _walk(wp.root, wp.parts, create=False)


def _need_file(wp: WorkspacePath) -> None:
    if not wp.parts:
        raise ToolError("'.' is the workspace folder itself, not a file; name a file in it")


def open_regular(wp: WorkspacePath) -> int:
    """Open ``wp`` for reading; refuse anything but a regular file (FIFOs would hang)."""
    _need_file(wp)
    with os_errors(wp.shown):
        dirfd = _walk(wp.root, wp.parts[:-1], create=False)
        try:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            fd = os.open(wp.parts[-1], flags, dir_fd=dirfd)
        finally:
            os.close(dirfd)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a directory; use ls to list it" if stat.S_ISDIR(mode) else "not a regular file"
        raise ToolError(f"{wp.shown} is {what}")
    os.set_blocking(fd, True)
    return fd


def exists(wp: WorkspacePath) -> bool:
    """Return True when something (even a dangling link) exists at ``wp``."""
    return os.path.lexists(wp.real)


def read_bytes(wp: WorkspacePath, *, max_bytes: int) -> bytes:
    """Return the whole file, refusing one larger than ``max_bytes``."""
    fd = open_regular(wp)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ToolError(
            f"{wp.shown} is larger than {max_bytes // 1_000_000} MB, too large for this tool; "
            "use exec (e.g. sed) to change it"
        )
    return data


def decode_utf8(data: bytes, shown: str) -> str:
    """Decode file contents, refusing binary data with a message that says what to do."""
    if b"\x00" in data:
        raise ToolError(f"{shown} looks like a binary file; this tool works on UTF-8 text only")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(
            f"{shown} is not UTF-8 text (invalid byte at offset {exc.start}); this tool works "
            "on UTF-8 text only (use exec with iconv or xxd for other files)"
        ) from None


def write_bytes(wp: WorkspacePath, data: bytes) -> None:
    """Replace ``wp`` with ``data`` atomically (temp file + rename), creating parent folders.

    Readers see the old file or the new one, never half of it. An existing file keeps its
    permission bits.
    """
    _need_file(wp)
    name = wp.parts[-1]
    with os_errors(wp.shown):
        dirfd = _walk(wp.root, wp.parts[:-1], create=True)
        try:
            mode: int | None = None
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "is a directory")
                if not stat.S_ISREG(st.st_mode):
                    raise ToolError(f"{wp.shown} exists and is not a regular file")
                mode = stat.S_IMODE(st.st_mode)
            tmp = f".{name[:200]}.{secrets.token_hex(4)}.tmp"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(tmp, flags, 0o666, dir_fd=dirfd)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    if mode is not None:
                        os.fchmod(handle.fileno(), mode)
                os.replace(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dirfd)
                raise
        finally:
            os.close(dirfd)


def unlink(wp: WorkspacePath) -> None:
    """Delete the file ``wp`` (never a directory)."""
    _need_file(wp)
    with os_errors(wp.shown):
        dirfd = _walk(wp.root, wp.parts[:-1], create=False)
        try:
            os.unlink(wp.parts[-1], dir_fd=dirfd)
        finally:
            os.close(dirfd)
