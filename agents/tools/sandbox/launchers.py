"""What the sandbox runs on the host: the launchers, the Python and the prelude script.

The launchers (``setpriv``, ``unshare``, ``bwrap``) are found once, by absolute path, in a
fixed system ``PATH`` (``resolve_launchers``, called at gateway start), never through
the gateway's or the model's ``PATH``, and they run with an environment built here
(``launcher_env``): a model that plants ``bin/bwrap`` in its workspace or sets
``LD_PRELOAD`` must not get code run on the host.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import stat
import sys
from pathlib import Path

from agents.tools.sandbox import prelude
from agents.tools.sandbox.prelude import BWRAP, UNSHARE

logger = logging.getLogger(__name__)

SETPRIV = "setpriv"
MECHANISMS = (BWRAP, UNSHARE)
LAUNCHERS = (SETPRIV, BWRAP, UNSHARE)
# Where launchers are looked up: system folders only, whatever PATH the process has.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The script the sandbox runs first (see ``prelude``); it must stay visible inside.
PRELUDE = Path(prelude.__file__).resolve()


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
        logger.debug("sandbox: %s is not installed (looked in %s)", name, SYSTEM_PATH)
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


def interpreter() -> str:
    """The Python that runs the prelude: the real file, not a venv's link to it (a venv
    under /tmp would vanish under the private /tmp)."""
    return os.path.realpath(sys.executable)
