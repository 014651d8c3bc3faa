"""Run a shell command in a throw-away Linux sandbox: no network, read-only system.

Inside, the command sees the host's filesystem read-only except the workspace (writable)
and a private ``/tmp``; the gateway's data dir (which holds secret files) is hidden under
an empty tmpfs; it has its own network namespace (loopback only, so no network), its own
PID namespace (everything dies with it), no capabilities, and resource limits (address
space, CPU seconds, file size, open files, processes).

Two mechanisms, the first that works on this host wins (``sandbox_available``):

- ``bwrap`` (bubblewrap): ``bwrap --unshare-all --die-with-parent --new-session
  --ro-bind / / --tmpfs /tmp [--tmpfs <data dir>] --bind <ws> <ws> --proc /proc
  --dev /dev --chdir <cwd> -- <python> -I -S sandbox.py <config> /bin/sh -c <command>``.
- ``unshare`` (util-linux) with unprivileged user namespaces: ``unshare --user
  --map-root-user --mount --net --pid --ipc --uts --fork --kill-child --mount-proc
  --propagation private -- <python> -I -S sandbox.py <config> /bin/sh -c <command>``;
  the prelude then builds what bwrap would: tmpfs over /tmp, the data dir and /dev (with
  only null, zero, full, random, urandom and tty bound in), the workspace bound back
  writable, every other mount remounted read-only (and checked), capabilities dropped and
  ``no_new_privs`` set.

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
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

BWRAP = "bwrap"
UNSHARE = "unshare"
MECHANISMS = (BWRAP, UNSHARE)

MEMORY_LIMIT_BYTES = 1 << 30
FILE_SIZE_LIMIT_BYTES = 100_000_000
OPEN_FILES_LIMIT = 256
# Processes the sandbox may add to what the user already runs (RLIMIT_NPROC counts per
# user, and outside a user namespace that includes the gateway's own processes).
EXTRA_PROCESSES = 256
PROBE_TIMEOUT_S = 15.0
# Exit status of the prelude when it could not build the sandbox (the command never ran).
SETUP_FAILED = 125

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


def _hideable(paths: Sequence[Path]) -> list[str]:
    """The folders to hide, minus any that hold the Python or prelude the sandbox runs."""
    needed = [Path(os.path.realpath(sys.executable)), _PRELUDE]
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


def _config(*, mode: str, workspace: Path, cwd: Path, timeout: float, hide: list[str]) -> str:
    limits = {
        "RLIMIT_AS": MEMORY_LIMIT_BYTES,
        "RLIMIT_CPU": int(timeout) + 1,
        "RLIMIT_FSIZE": FILE_SIZE_LIMIT_BYTES,
        "RLIMIT_NOFILE": OPEN_FILES_LIMIT,
        "RLIMIT_NPROC": _user_processes() + EXTRA_PROCESSES,
        "RLIMIT_CORE": 0,
    }
    return json.dumps(
        {"mode": mode, "workspace": str(workspace), "cwd": str(cwd), "hide": hide, "limits": limits}
    )


def build_argv(
    *,
    mechanism: str,
    command: str,
    workspace: Path,
    cwd: Path,
    timeout: float,
    hide: Sequence[Path] = (),
) -> list[str]:
    """Return the argv that runs ``command`` with ``mechanism`` (no availability check).

    ``workspace`` and ``cwd`` must be real paths, ``cwd`` inside ``workspace``.
    """
    hidden = _hideable(hide)
    config = _config(mode=mechanism, workspace=workspace, cwd=cwd, timeout=timeout, hide=hidden)
    prelude = [sys.executable, "-I", "-S", str(_PRELUDE), config, "/bin/sh", "-c", command]
    if mechanism == BWRAP:
        argv = [
            BWRAP,
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--ro-bind", "/", "/",
            "--tmpfs", PRIVATE_TMP,
        ]  # fmt: skip
        for path in hidden:
            argv += ["--tmpfs", path]
        if any(_under(str(_PRELUDE), p) for p in [PRIVATE_TMP, *hidden]):
            argv += ["--ro-bind", str(_PRELUDE), str(_PRELUDE)]  # a code tree under /tmp
        return [
            *argv,
            "--bind", str(workspace), str(workspace),
            "--proc", "/proc",
            "--dev", "/dev",
            "--chdir", str(cwd),
            "--",
            *prelude,
        ]  # fmt: skip
    if mechanism == UNSHARE:
        return [
            UNSHARE,
            "--user", "--map-root-user",
            "--mount", "--propagation", "private",
            "--net", "--pid", "--ipc", "--uts",
            "--fork", "--kill-child", "--mount-proc",
            "--",
            *prelude,
        ]  # fmt: skip
    raise ValueError(f"unknown sandbox mechanism {mechanism!r}; use one of {MECHANISMS}")


@functools.cache
def mechanism_works(mechanism: str) -> bool:
    """Return True when ``mechanism`` really runs a confined command here (probed once)."""
    if shutil.which(mechanism) is None:
        return False
    with tempfile.TemporaryDirectory(prefix="openclaw-sandbox-probe-") as tmp:
        root = Path(os.path.realpath(tmp))
        # Writes in the workspace must work and the system must be read-only.
        probe = "echo ok > probe && ! [ -w /usr ] && cat probe"
        argv = build_argv(mechanism=mechanism, command=probe, workspace=root, cwd=root, timeout=10)
        try:
            done = subprocess.run(  # noqa: S603 - argv built above, no shell
                argv,
                cwd=root,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
                start_new_session=True,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
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
    hide: Sequence[Path] = (),
    mechanism: str | None = None,
) -> tuple[str, list[str]]:
    """Return (mechanism, argv) running ``command`` sandboxed, or raise if none works.

    Raises ``SandboxUnavailableError`` rather than ever falling back to running the
    command unconfined.
    """
    chosen = mechanism or sandbox_available()
    if chosen is None or not mechanism_works(chosen):
        raise SandboxUnavailableError(UNAVAILABLE_MESSAGE)
    argv = build_argv(
        mechanism=chosen, command=command, workspace=workspace, cwd=cwd, timeout=timeout, hide=hide
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


def _keep_writable(path: str, writable: Sequence[str], covered: Sequence[str]) -> bool:
    """Mounts left alone: the writable ones, and mounts now hidden under a tmpfs."""
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


def _remount_read_only(libc: _Libc, writable: Sequence[str], covered: Sequence[str]) -> None:
    """Remount every reachable mount read-only, then check that none was missed."""
    for path, options in _mounts().items():
        if "ro" in options or _keep_writable(path, writable, covered):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for name, flag in _KEPT_FLAGS.items():
            if name in options:
                flags |= flag
        try:
            libc.mount(None, path, None, flags)
        except FileNotFoundError:
            continue  # its mount point is gone from view: nothing can reach it
    left = [
        p for p, o in _mounts().items() if "rw" in o and not _keep_writable(p, writable, covered)
    ]
    if left:
        raise OSError(f"these mounts are still writable: {', '.join(left[:5])}")


def _confine(config: dict[str, Any]) -> None:
    """Build the filesystem view (in a fresh user + mount namespace) and drop privileges."""
    libc = _Libc()
    workspace = config["workspace"]
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
    writable = [workspace, PRIVATE_TMP, PRIVATE_SHM]
    _remount_read_only(libc, writable, covered=["/dev", *hide])
    libc.drop_capabilities()


def _set_limits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        which = getattr(resource, name)
        _, hard = resource.getrlimit(which)
        capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (capped, capped))


def prelude_main(argv: list[str]) -> int:
    """Set up the sandbox from ``argv[0]`` (JSON) and exec ``argv[1:]``; 125 on failure."""
    config = json.loads(argv[0])
    command = argv[1:]
    try:
        if config["mode"] == UNSHARE:
            _confine(config)
        os.chdir(config["cwd"])
        _set_limits(config["limits"])
    except (OSError, ValueError) as exc:
        os.write(2, f"openclaw sandbox: setup failed, the command did not run: {exc}\n".encode())
        return SETUP_FAILED
    os.execv(command[0], command)  # noqa: S606 - the whole point of the prelude


if __name__ == "__main__":
    sys.exit(prelude_main(sys.argv[1:]))
