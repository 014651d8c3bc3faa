"""A PostgreSQL server of a test's own, on a free port, for tests that stop or crash the
database (never the shared one on 5432: every other test uses it).

Debian's server binaries (``initdb``, ``pg_ctl``) live in ``/usr/lib/postgresql/<v>/bin``,
outside ``PATH``. ``initdb`` and ``pg_ctl`` refuse to run as root, so under root they run
as the ``postgres`` OS user (``runuser``), in a directory of their own under the system's
temp dir (pytest's ``tmp_path`` is not readable by another user). Trust auth on
loopback, and ``fsync=off``: a stopped server's writes are still in the OS's cache, so
only a machine crash could lose them. ``synchronous_commit`` stays on: off, a commit
the client saw could vanish with an immediate stop (its WAL not yet written), which no
real server does.

    server = PostgresServer()
    server.start()          # initdb the first time, then pg_ctl start -w
    server.url              # postgres://postgres@127.0.0.1:<port>/postgres
    server.stop()           # pg_ctl stop -m immediate: a crash, clients see it at once
    server.start()          # the same data and port, after crash recovery
    server.close()          # stop for good and remove the directory
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import skip_or_fail
from tests.gateway_process import free_port

START_S = 60
OS_USER = "postgres"
# Debian's layout, newest version first; a PATH that holds initdb wins.
DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"


def bin_dir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    versions = sorted(
        Path("/").glob(DEBIAN_BIN_DIRS.lstrip("/")),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)],
        reverse=True,
    )
    candidates.extend(versions)
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


class PostgresServer:
    """Start, crash (``stop``) and start again on the same port and data."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root: Path | None = None
        self._bin: Path | None = None
        self._as_user: list[str] = []

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log(self) -> Path:
        assert self.root is not None
        return self.root / "postgres.log"

    def output(self) -> str:
        """The server's log, for a failure message."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _setup(self) -> None:
        self._bin = bin_dir()
        if self._bin is None:
            skip_or_fail("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        if os.geteuid() == 0:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            if not Path(runuser).is_file():
                skip_or_fail("running as root, and runuser (to run initdb as postgres) is missing")
            self._as_user = [runuser, "-u", OS_USER, "--"]
        root = Path(tempfile.mkdtemp(prefix="openclaw-pg-"))
        if self._as_user:
            shutil.chown(root, user=OS_USER)
        self.root = root
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        assert self.root is not None
        done = subprocess.run(
            [*self._as_user, str(self._bin / program), *args],
            cwd=self.root,  # the postgres user may not read the test's cwd
            capture_output=True,
            text=True,
            timeout=START_S + 30,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{program} {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout}\n{done.stderr}\n{self.output()[-3000:]}"
            )
        return done

    def start(self) -> None:
        """Start (``initdb`` first, once) and wait until it accepts connections."""
        if self.root is None:
            self._setup()
        options = " ".join(
            shlex.quote(part)
            for part in (
                "-p", str(self.port), "-k", str(self.root),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "full_page_writes=off",
                "-c", "shared_buffers=32MB",
            )
        )  # fmt: skip
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", str(START_S), "start",
        )  # fmt: skip

    @property
    def running(self) -> bool:
        if self.root is None or not (self.data / "postmaster.pid").exists():
            return False
        assert self._bin is not None
        status = subprocess.run(
            [*self._as_user, str(self._bin / "pg_ctl"), "-D", str(self.data), "status"],
            cwd=self.root,
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def stop(self, mode: str = "immediate") -> None:
        """Stop: ``immediate`` (the default) ends every backend at once, as a crash does,
        and the next start recovers; ``fast`` is a clean shutdown."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    kill = stop

    def close(self) -> None:
        """Stop and remove the data."""
        if self.root is None:
            return
        try:
            self.stop("fast")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
