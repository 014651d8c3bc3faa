"""Run a shell command in a throw-away Linux sandbox: no network, read-only system.

Inside, the command sees the host's filesystem read-only except the workspace and a
private ``/tmp``; the gateway's data dir (which holds secret files) and ``/run`` (with
``/var/run``: the host's Unix sockets, Docker's, PostgreSQL's, D-Bus's) are hidden under
empty tmpfs mounts; it has its own network namespace (loopback only, so no network and
none of the host's abstract Unix sockets), its own PID namespace (everything dies with
it), no capabilities, and resource limits (address space, CPU seconds, file size, open
files, processes).

The workspace follows the session's ``workspace_access``: "rw" and "none" bind it
writable, "ro" read-only. The session's protected files (the agent's prompt files) are
bound read-only on top of a writable workspace, and every folder between the workspace
and such a file is bound on itself: a mount point cannot be renamed or removed (EBUSY),
so ``rm``, ``mv`` and ``>`` on SOUL.md all fail, and so does moving its folder away.

Two mechanisms, the first that works on this host wins (``sandbox_available``):

- ``bwrap`` (bubblewrap): ``bwrap --unshare-all --die-with-parent --new-session
  --ro-bind / / --tmpfs /tmp --tmpfs /run [--tmpfs <data dir>] --bind <ws> <ws>
  [--bind <folder> <folder>] [--ro-bind <file> <file>] --proc /proc --dev /dev
  --chdir <cwd> -- <python> -I -S sandbox.py <config> /bin/sh -c <command>``.
- ``unshare`` (util-linux) with unprivileged user namespaces: ``unshare --user
  --map-root-user --mount --net --pid --ipc --uts --fork --kill-child --mount-proc
  --propagation private -- <python> -I -S sandbox.py <config> /bin/sh -c <command>``;
  the prelude then builds what bwrap would: tmpfs over /tmp, /run, the data dir and
  /dev (with only null, zero, full, random, urandom and tty bound in), the workspace
  bound back (writable or read-only), the protected files bound read-only, every other
  mount remounted read-only (and checked), capabilities dropped and ``no_new_privs`` set.

The launchers (``setpriv``, ``unshare``, ``bwrap``) are found once, by absolute path, in
a fixed system ``PATH`` (``resolve_launchers``, called at gateway start), never through
the gateway's or the model's ``PATH``, and they run with an environment built here
(``launcher_env``): a model that plants ``bin/bwrap`` in its workspace or sets
``LD_PRELOAD`` must not get code run on the host. The command's own environment travels
in the prelude's JSON config and reaches only ``/bin/sh``, through ``os.execve``.

Either way the prelude (this file run as a script; it imports only the standard library)
sets the resource limits, changes to the working folder and execs ``/bin/sh -c``. When
neither mechanism works, ``sandbox_argv`` refuses: sandboxed commands never run without
the sandbox.
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

logger = logging.getLogger(__name__)

BWRAP = "bwrap"
UNSHARE = "unshare"
SETPRIV = "setpriv"
MECHANISMS = (BWRAP, UNSHARE)
LAUNCHERS = (SETPRIV, BWRAP, UNSHARE)
# Where launchers are looked up: system folders only, whatever PATH the process has.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Host folders of Unix sockets and pid files; /var/run is usually a link to /run.
HOST_RUN_DIRS = ("/run", "/var/run")
WORKSPACE_ACCESS = ("rw", "ro", "none")

MEMORY_LIMIT_BYTES = 1 << 30
FILE_SIZE_LIMIT_BYTES = 100_000_000
OPEN_FILES_LIMIT = 256
# Processes the sandbox may add to what the user already runs (RLIMIT_NPROC counts per
# user, and outside a user namespace that includes the gateway's own processes).
EXTRA_PROCESSES = 256
PROBE_TIMEOUT_S = 15.0
# Exit status of the prelude when it could not build the sandbox (the command never ran).
SETUP_FAILED = 125
# Exit status of the prelude when the sandbox was built but /bin/sh could not be run.
EXEC_FAILED = 127

UNAVAILABLE_MESSAGE = (
    "sandboxed exec needs bubblewrap (apt install bubblewrap) or unprivileged user "
    "namespaces, and this host has neither; set the agent's sandbox mode to off to run "
    "commands without a sandbox"
)

_PRELUDE = Path(__file__).resolve()
# Private tmpfs mounts inside the sandbox, not host temp files.
PRIVATE_TMP = "/tmp"  # noqa: S108
PRIVATE_SHM = "/dev/shm"  # noqa: S108
_DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
_DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}


class SandboxUnavailableError(Exception):
    """No sandbox mechanism works on this host; ``str()`` says what to do."""


class ProtectedFileError(Exception):
    """A protected file cannot be protected by a mount; ``str()`` says why and what to do."""


# --- launchers (in the gateway) --------------------------------------------------------
def launcher_env() -> dict[str, str]:
    """The whole environment a launcher runs with: nothing from the model or the gateway."""
    return {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}


@functools.cache
def launcher_path(name: str) -> str | None:
    """Return the absolute path of launcher ``name`` in ``SYSTEM_PATH``, or None.

    Resolved once per process. A binary that another user could replace (not owned by
    root or by us, or group/world writable) counts as missing: running it would hand
    the sandbox to whoever can write it.
    """
    if name not in LAUNCHERS:
        raise ValueError(f"unknown launcher {name!r}; use one of {LAUNCHERS}")
    # Not realpath: a multi-call binary (busybox) picks its applet from argv[0].
    found = shutil.which(name, path=SYSTEM_PATH)
    if found is None:
        logger.info("sandbox: %s is not installed (looked in %s)", name, SYSTEM_PATH)
        return None
    try:
        info = os.stat(found)
    except OSError:
        return None
    if info.st_uid not in (0, os.getuid()) or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        logger.warning("sandbox: not using %s, other users can replace it", found)
        return None
    return found


def resolve_launchers() -> dict[str, str | None]:
    """Resolve every launcher now; call once at gateway start, before any model runs.

    Returns launcher name → absolute path, None for a missing one; never raises (without
    launchers, sandboxed commands are refused when they run and unsandboxed commands
    run without ``setpriv``'s parent-death signal). Cached, so cheap and idempotent.
    """
    return {name: launcher_path(name) for name in LAUNCHERS}


# --- building the command line (in the gateway) ----------------------------------------
def _user_processes() -> int:
    """Count this user's processes (cheap: one stat per /proc entry)."""
    uid = os.getuid()
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                count += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                continue
    return count


def _interpreter() -> str:
    """The Python that runs the prelude: the real file, not a venv's link to it (a venv
    under /tmp would vanish under the private /tmp)."""
    return os.path.realpath(sys.executable)


def _hideable(paths: Sequence[Path]) -> list[str]:
    """The folders to hide, minus any that hold the Python or prelude the sandbox runs."""
    needed = [Path(_interpreter()), _PRELUDE]
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


def _run_dirs() -> list[str]:
    """The host's /run and /var/run as real folders (usually one: /var/run links to /run).

    Hidden whatever they hold: a read-only mount does not stop ``connect()`` on a socket.
    """
    return [os.path.realpath(p) for p in HOST_RUN_DIRS if os.path.isdir(p)]


def _outermost(paths: Sequence[str]) -> list[str]:
    """``paths`` without duplicates and without those inside another one, in order."""
    out: list[str] = []
    for path in paths:
        if not any(_under(path, kept) for kept in out):
            out = [p for p in out if not _under(p, path)] + [path]
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


def _config(
    *,
    mode: str,
    workspace: Path,
    access: str,
    pins: list[str],
    protect: list[str],
    cwd: Path,
    timeout: float,
    hide: list[str],
    env: Mapping[str, str],
) -> str:
    limits = {
        "RLIMIT_AS": MEMORY_LIMIT_BYTES,
        "RLIMIT_CPU": int(timeout) + 1,
        "RLIMIT_FSIZE": FILE_SIZE_LIMIT_BYTES,
        "RLIMIT_NOFILE": OPEN_FILES_LIMIT,
        "RLIMIT_NPROC": _user_processes() + EXTRA_PROCESSES,
        "RLIMIT_CORE": 0,
    }
    return json.dumps(
        {
            "mode": mode,
            "workspace": str(workspace),
            "access": access,
            "pins": pins,
            "protect": protect,
            "cwd": str(cwd),
            "hide": hide,
            "limits": limits,
            "env": dict(env),
        }
    )


def build_argv(
    *,
    mechanism: str,
    command: str,
    workspace: Path,
    cwd: Path,
    timeout: float,
    env: Mapping[str, str],
    hide: Sequence[Path] = (),
    workspace_access: str = "rw",
    protected_files: Collection[str] = (),
) -> list[str]:
    """Return the argv that runs ``command`` with ``mechanism`` (no availability check).

    ``workspace`` and ``cwd`` must be real paths, ``cwd`` inside ``workspace``. ``env`` is
    the command's whole environment; the argv itself must run with ``launcher_env()``.
    Raises ``SandboxUnavailableError`` when the mechanism's launcher is not installed,
    and ``ProtectedFileError`` when a protected file cannot be protected.
    """
    if workspace_access not in WORKSPACE_ACCESS:
        raise ValueError(f"unknown workspace access {workspace_access!r}; use {WORKSPACE_ACCESS}")
    if mechanism not in MECHANISMS:
        raise ValueError(f"unknown sandbox mechanism {mechanism!r}; use one of {MECHANISMS}")
    launcher = launcher_path(mechanism)
    if launcher is None:
        raise SandboxUnavailableError(UNAVAILABLE_MESSAGE)
    read_only = workspace_access == "ro"
    # Under "ro" nothing in the workspace is writable, so nothing needs protecting.
    pins, protect = ([], []) if read_only else protected_mounts(workspace, protected_files)
    covered = _outermost([PRIVATE_TMP, *_run_dirs(), *_hideable(hide)])
    hidden = [p for p in covered if p != PRIVATE_TMP]
    config = _config(
        mode=mechanism,
        workspace=workspace,
        access="ro" if read_only else "rw",
        pins=pins,
        protect=protect,
        cwd=cwd,
        timeout=timeout,
        hide=hidden,
        env=env,
    )
    prelude = [_interpreter(), "-I", "-S", str(_PRELUDE), config, "/bin/sh", "-c", command]
    if mechanism == UNSHARE:
        return [
            launcher,
            "--user", "--map-root-user",
            "--mount", "--propagation", "private",
            "--net", "--pid", "--ipc", "--uts",
            "--fork", "--kill-child", "--mount-proc",
            "--",
            *prelude,
        ]  # fmt: skip
    argv = [
        launcher,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--ro-bind", "/", "/",
    ]  # fmt: skip
    for path in covered:
        argv += ["--tmpfs", path]
    if any(_under(str(_PRELUDE), p) for p in covered):
        argv += ["--ro-bind", str(_PRELUDE), str(_PRELUDE)]  # a code tree under /tmp
    argv += ["--ro-bind" if read_only else "--bind", str(workspace), str(workspace)]
    # Folders first: binding one later would cover the file mounts inside it.
    for path in pins:
        argv += ["--bind", path, path]
    for path in protect:
        argv += ["--ro-bind", path, path]
    return [
        *argv,
        "--proc", "/proc",
        "--dev", "/dev",
        "--chdir", str(cwd),
        "--",
        *prelude,
    ]  # fmt: skip


@functools.cache
def mechanism_works(mechanism: str) -> bool:
    """Return True when ``mechanism`` really runs a confined command here (probed once)."""
    if launcher_path(mechanism) is None:
        return False
    with tempfile.TemporaryDirectory(prefix="openclaw-sandbox-probe-") as tmp:
        root = Path(os.path.realpath(tmp))
        # Writes in the workspace must work, the system must be read-only, /run empty.
        probe = 'echo ok > probe && ! [ -w /usr ] && [ -z "$(ls -A /run)" ] && cat probe'
        try:
            argv = build_argv(
                mechanism=mechanism,
                command=probe,
                workspace=root,
                cwd=root,
                timeout=10,
                env=launcher_env(),
            )
            done = subprocess.run(  # noqa: S603 - argv built above, no shell
                argv,
                cwd=root,
                env=launcher_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
                start_new_session=True,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired, SandboxUnavailableError) as exc:
            logger.info("sandbox probe of %s failed: %s", mechanism, exc)
            return False
    works = done.returncode == 0 and done.stdout.strip() == b"ok"
    if not works:
        logger.info(
            "sandbox probe of %s failed (exit %s): %s",
            mechanism,
            done.returncode,
            done.stderr.decode("utf-8", "replace")[-500:],
        )
    return works


@functools.cache
def sandbox_available() -> str | None:
    """Return the sandbox mechanism this host supports ("bwrap" or "unshare"), or None.

    Probed once per process with a real confined command; for health and status checks.
    """
    return next((m for m in MECHANISMS if mechanism_works(m)), None)


def sandbox_argv(
    *,
    command: str,
    workspace: Path,
    cwd: Path,
    timeout: float,
    env: Mapping[str, str],
    hide: Sequence[Path] = (),
    workspace_access: str = "rw",
    protected_files: Collection[str] = (),
    mechanism: str | None = None,
) -> tuple[str, list[str]]:
    """Return (mechanism, argv) running ``command`` sandboxed, or raise if none works.

    Raises ``SandboxUnavailableError`` rather than ever falling back to running the
    command unconfined, and ``ProtectedFileError`` (see ``protected_mounts``). The argv
    must run with ``launcher_env()``; ``env`` reaches only the command.
    """
    chosen = mechanism or sandbox_available()
    if chosen is None or not mechanism_works(chosen):
        raise SandboxUnavailableError(UNAVAILABLE_MESSAGE)
    argv = build_argv(
        mechanism=chosen,
        command=command,
        workspace=workspace,
        cwd=cwd,
        timeout=timeout,
        env=env,
        hide=hide,
        workspace_access=workspace_access,
        protected_files=protected_files,
    )
    return chosen, argv


# --- the prelude (runs inside the namespaces, as a script) ------------------------------
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
# Flags a user namespace may not clear on a mount it inherited: a remount keeps them.
_KEPT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


class _Libc:
    """The few libc calls the prelude needs, raising ``OSError`` on failure."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:  # fmt: skip
        enc = [s.encode() if s is not None else None for s in (source, target, fstype, data)]
        self._check(
            self._libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]),
            f"mount {target}",
        )

    def prctl(self, option: int, arg: int) -> int:
        return int(self._libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0))

    def drop_capabilities(self) -> None:
        """Empty the bounding, ambient and current sets so exec grants no capability."""
        for cap in range(64):
            if self.prctl(PR_CAPBSET_DROP, cap) != 0:
                break  # EINVAL: past the last capability this kernel knows
        self.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        self._check(self.prctl(PR_SET_NO_NEW_PRIVS, 1), "prctl(NO_NEW_PRIVS)")
        header = _CapHeader(_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        self._check(self._libc.capset(ctypes.byref(header), data), "capset")


def _unescape(field: str) -> str:
    """Decode mountinfo's octal escapes (\\040 for a space...)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mounts() -> dict[str, set[str]]:
    """Mount point → its per-mount options; for a stacked mount point, the top one."""
    top: dict[str, set[str]] = {}
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            top[_unescape(fields[4])] = set(fields[5].split(","))
    return top


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _keep_writable(
    path: str, writable: Sequence[str], covered: Sequence[str], read_only: Sequence[str]
) -> bool:
    """Mounts left alone: the writable ones, and mounts now hidden under a tmpfs.

    ``read_only`` wins over both: a read-only workspace is bound back into view inside
    a covered or writable folder (a hidden data dir, /tmp), and must not stay writable.
    """
    if any(_under(path, r) for r in read_only):
        return False
    if any(_under(path, w) for w in writable):
        return True
    return any(path != c and _under(path, c) for c in covered)


def _make_dev(libc: _Libc) -> None:
    """Replace /dev with a tmpfs holding only harmless devices (bwrap's --dev)."""
    nodes = {
        name: os.open(f"/dev/{name}", os.O_PATH | os.O_CLOEXEC)
        for name in _DEV_NODES
        if os.path.exists(f"/dev/{name}")
    }
    libc.mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755")
    for name, fd in nodes.items():
        os.close(os.open(f"/dev/{name}", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
        libc.mount(f"/proc/self/fd/{fd}", f"/dev/{name}", None, MS_BIND)
        os.close(fd)
    for name, target in _DEV_LINKS.items():
        os.symlink(target, f"/dev/{name}")
    os.mkdir(PRIVATE_SHM, 0o1777)
    libc.mount("tmpfs", PRIVATE_SHM, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")


def _remount_one_read_only(libc: _Libc, path: str, options: set[str]) -> None:
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    for name, flag in _KEPT_FLAGS.items():
        if name in options:
            flags |= flag
    libc.mount(None, path, None, flags)


def _remount_read_only(
    libc: _Libc, writable: Sequence[str], covered: Sequence[str], read_only: Sequence[str]
) -> None:
    """Remount every reachable mount read-only, then check that none was missed."""
    for path, options in _mounts().items():
        if "ro" in options or _keep_writable(path, writable, covered, read_only):
            continue
        try:
            _remount_one_read_only(libc, path, options)
        except FileNotFoundError:
            continue  # its mount point is gone from view: nothing can reach it
    left = [
        p
        for p, o in _mounts().items()
        if "rw" in o and not _keep_writable(p, writable, covered, read_only)
    ]
    if left:
        raise OSError(f"these mounts are still writable: {', '.join(left[:5])}")


def _protect(libc: _Libc, pins: Sequence[str], files: Sequence[str]) -> None:
    """Pin ``pins`` (bind each on itself) and bind ``files`` read-only on themselves.

    Folders first: a later non-recursive bind of a folder would cover the file mounts.
    Then checked through mountinfo, so a path swapped for a link while we mounted (the
    mount would land elsewhere) fails the setup instead of leaving the file writable.
    """
    for path in pins:
        libc.mount(path, path, None, MS_BIND | MS_REC)
    for path in files:
        libc.mount(path, path, None, MS_BIND | MS_REC)
        _remount_one_read_only(libc, path, _mounts().get(path, set()))
    mounts = _mounts()
    missing = [p for p in pins if p not in mounts]
    missing += [p for p in files if "ro" not in mounts.get(p, set())]
    if missing:
        raise OSError(f"could not protect {', '.join(missing[:5])}")


def _confine(config: dict[str, Any]) -> None:
    """Build the filesystem view (in a fresh user + mount namespace) and drop privileges.

    Opening the workspace comes first: when this runs outside a namespace by mistake (a
    missing workspace in a test), it fails before mounting anything on the host.
    """
    libc = _Libc()
    workspace = config["workspace"]
    read_only = config["access"] == "ro"
    hide = [PRIVATE_TMP, *config["hide"]]
    # Opened before the tmpfs mounts hide them, bound back afterwards through /proc.
    workspace_fd = os.open(workspace, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    _make_dev(libc)
    for index, path in enumerate(hide):
        if any(_under(path, earlier) for earlier in hide[:index]):
            continue  # already hidden by the tmpfs over a parent (a data dir under /tmp)
        mode = "1777" if path == PRIVATE_TMP else "0755"
        libc.mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode}")
    os.makedirs(workspace, exist_ok=True)
    libc.mount(f"/proc/self/fd/{workspace_fd}", workspace, None, MS_BIND | MS_REC)
    os.close(workspace_fd)
    if not read_only:
        _protect(libc, config["pins"], config["protect"])
    writable = [PRIVATE_TMP, PRIVATE_SHM] if read_only else [workspace, PRIVATE_TMP, PRIVATE_SHM]
    _remount_read_only(
        libc, writable, covered=["/dev", *hide], read_only=[workspace] if read_only else []
    )
    libc.drop_capabilities()


def _set_limits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        which = getattr(resource, name)
        _, hard = resource.getrlimit(which)
        capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (capped, capped))


def prelude_main(argv: list[str]) -> int:
    """Set up the sandbox from ``argv[0]`` (JSON) and exec ``argv[1:]``; 125 on failure.

    The command gets ``config["env"]`` as its whole environment: the launchers before
    it ran with ``launcher_env()``, never with what the model asked for.
    """
    try:
        config = json.loads(argv[0])
        command = argv[1:]
        env = {str(k): str(v) for k, v in config["env"].items()}
        if config["mode"] == UNSHARE:
            _confine(config)
        os.chdir(config["cwd"])
        _set_limits(config["limits"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        os.write(2, f"openclaw sandbox: setup failed, the command did not run: {exc}\n".encode())
        return SETUP_FAILED
    try:
        os.execve(command[0], command, env)  # noqa: S606 - the whole point of the prelude
    except OSError as exc:
        os.write(2, f"openclaw sandbox: cannot run {command[0]}: {exc}\n".encode())
    return EXEC_FAILED


if __name__ == "__main__":
    sys.exit(prelude_main(sys.argv[1:]))
