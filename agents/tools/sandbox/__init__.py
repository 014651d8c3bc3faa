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
  --chdir <cwd> -- <python> -I -S prelude.py <config> /bin/sh -c <command>``.
- ``unshare`` (util-linux) with unprivileged user namespaces: ``unshare --user
  --map-root-user --mount --net --pid --ipc --uts --fork --kill-child --mount-proc
  --propagation private -- <python> -I -S prelude.py <config> /bin/sh -c <command>``;
  the prelude then builds what bwrap would: tmpfs over /tmp, /run, the data dir and
  /dev (with only null, zero, full, random, urandom and tty bound in), the workspace
  bound back (writable or read-only), the protected files bound read-only, every other
  mount remounted read-only (and checked), capabilities dropped and ``no_new_privs`` set.

The launchers (``setpriv``, ``unshare``, ``bwrap``) are found once, by absolute path, in
a fixed system ``PATH`` (``resolve_launchers``, called at gateway start), never through
the gateway's or the model's ``PATH``, and they run with an environment built there
(``launchers.launcher_env``): a model that plants ``bin/bwrap`` in its workspace or sets
``LD_PRELOAD`` must not get code run on the host. The command's own environment travels
in the prelude's JSON config and reaches only ``/bin/sh``, through ``os.execve``.

Either way the prelude (``prelude.py`` run as a script; it imports only the standard
library) sets the resource limits, changes to the working folder and execs ``/bin/sh -c``.
When neither mechanism works, ``sandbox_argv`` refuses: sandboxed commands never run
without the sandbox.

The package: ``launchers`` (the programs run on the host and their environment),
``mounts`` (what is hidden and what is protected), ``command`` (the argv, the probe and
``sandbox_argv``) and ``prelude`` (the script, standard library only).
"""

from __future__ import annotations

from agents.tools.sandbox.command import (
    EXTRA_PROCESSES,
    FILE_SIZE_LIMIT_BYTES,
    MEMORY_LIMIT_BYTES,
    OPEN_FILES_LIMIT,
    PROBE_TIMEOUT_S,
    UNAVAILABLE_MESSAGE,
    WORKSPACE_ACCESS,
    SandboxUnavailableError,
    build_argv,
    mechanism_works,
    sandbox_argv,
    sandbox_available,
)
from agents.tools.sandbox.launchers import (
    LAUNCHERS,
    MECHANISMS,
    SETPRIV,
    SYSTEM_PATH,
    launcher_env,
    launcher_path,
    resolve_launchers,
)
from agents.tools.sandbox.mounts import HOST_RUN_DIRS, ProtectedFileError, protected_mounts
from agents.tools.sandbox.prelude import (
    BWRAP,
    EXEC_FAILED,
    PRIVATE_SHM,
    PRIVATE_TMP,
    SETUP_FAILED,
    UNSHARE,
    prelude_main,
)

__all__ = [
    "BWRAP",
    "EXEC_FAILED",
    "EXTRA_PROCESSES",
    "FILE_SIZE_LIMIT_BYTES",
    "HOST_RUN_DIRS",
    "LAUNCHERS",
    "MECHANISMS",
    "MEMORY_LIMIT_BYTES",
    "OPEN_FILES_LIMIT",
    "PRIVATE_SHM",
    "PRIVATE_TMP",
    "PROBE_TIMEOUT_S",
    "SETPRIV",
    "SETUP_FAILED",
    "SYSTEM_PATH",
    "UNAVAILABLE_MESSAGE",
    "UNSHARE",
    "WORKSPACE_ACCESS",
    "ProtectedFileError",
    "SandboxUnavailableError",
    "build_argv",
    "launcher_env",
    "launcher_path",
    "mechanism_works",
    "prelude_main",
    "protected_mounts",
    "resolve_launchers",
    "sandbox_argv",
    "sandbox_available",
]
