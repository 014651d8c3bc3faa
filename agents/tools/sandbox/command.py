"""The sandbox's command line: the argv for bwrap or unshare, probed once per process.

``sandbox_argv`` is the one entry point: it picks the first mechanism that really works on
this host (``sandbox_available``) and refuses when none does, so sandboxed commands never
run without the sandbox. The command's own environment travels in the prelude's JSON
config and reaches only ``/bin/sh``; the argv itself runs with ``launcher_env()``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from agents.tools.sandbox.launchers import (
    MECHANISMS,
    PRELUDE,
    interpreter,
    launcher_env,
    launcher_path,
)
from agents.tools.sandbox.mounts import hideable, outermost, protected_mounts, run_dirs
from agents.tools.sandbox.prelude import PRIVATE_TMP, UNSHARE, under

logger = logging.getLogger(__name__)

WORKSPACE_ACCESS = ("rw", "ro", "none")

MEMORY_LIMIT_BYTES = 1 << 30
FILE_SIZE_LIMIT_BYTES = 100_000_000
OPEN_FILES_LIMIT = 256
# Processes the sandbox may add to what the user already runs (RLIMIT_NPROC counts per
# user, and outside a user namespace that includes the gateway's own processes).
EXTRA_PROCESSES = 256
PROBE_TIMEOUT_S = 15.0

UNAVAILABLE_MESSAGE = (
    "sandboxed exec needs bubblewrap (apt install bubblewrap) or unprivileged user "
    "namespaces, and this host has neither; set the agent's sandbox mode to off to run "
    "commands without a sandbox"
)


class SandboxUnavailableError(Exception):
    """No sandbox mechanism works on this host; ``str()`` says what to do."""


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
    covered = outermost([PRIVATE_TMP, *run_dirs(), *hideable(hide)])
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
    prelude = [interpreter(), "-I", "-S", str(PRELUDE), config, "/bin/sh", "-c", command]
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
    if any(under(str(PRELUDE), p) for p in covered):
        argv += ["--ro-bind", str(PRELUDE), str(PRELUDE)]  # a code tree under /tmp
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
