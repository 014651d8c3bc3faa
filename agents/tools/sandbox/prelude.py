"""The sandbox's prelude: this file, run as a script inside the namespaces.

It imports only the standard library (it runs as ``<python> -I -S prelude.py <config>
/bin/sh -c <command>``, outside any virtualenv), sets the resource limits, changes to the
working folder and execs ``/bin/sh -c``. Under ``unshare`` it first builds what bwrap
would (``_confine``): tmpfs over /tmp, /run, the data dir and /dev, the workspace bound
back, the protected files bound read-only, every other mount remounted read-only (and
checked), capabilities dropped and ``no_new_privs`` set.

The gateway side (``agents.tools.sandbox``) imports the names both sides share from here.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from collections.abc import Sequence
from typing import Any

BWRAP = "bwrap"
UNSHARE = "unshare"
# Exit status of the prelude when it could not build the sandbox (the command never ran).
SETUP_FAILED = 125
# Exit status of the prelude when the sandbox was built but /bin/sh could not be run.
EXEC_FAILED = 127

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


def under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _keep_writable(
    path: str, writable: Sequence[str], covered: Sequence[str], read_only: Sequence[str]
) -> bool:
    """Mounts left alone: the writable ones, and mounts now hidden under a tmpfs.

    ``read_only`` wins over both: a read-only workspace is bound back into view inside
    a covered or writable folder (a hidden data dir, /tmp), and must not stay writable.
    """
    if any(under(path, r) for r in read_only):
        return False
    if any(under(path, w) for w in writable):
        return True
    return any(path != c and under(path, c) for c in covered)


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
        if any(under(path, earlier) for earlier in hide[:index]):
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
