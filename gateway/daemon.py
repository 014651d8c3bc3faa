"""Install the gateway as a systemd service (``manage.py onboard --install-daemon``).

Writes the units (``gateway.lib.systemd``) and an EnvironmentFile (mode 600) with the
settings and secrets of the environment onboard runs in; it never runs ``systemctl``:
the plan carries the lines for the operator to run. A file that exists with other
content is kept unless the caller names it in ``replace`` (onboard asks first).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from gateway.lib.systemd import UnitSpec, env_file_text, render_units, systemctl_lines

USER_UNIT_DIR = Path("~/.config/systemd/user")
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
USER_ENV_FILE = Path("~/.config/openclaw-django/gateway.env")
SYSTEM_ENV_FILE = Path("/etc/openclaw/env")  # as docker/README.md's units
# What the EnvironmentFile carries from the environment: the settings the gateway reads
# (README, Settings), each also as NAME_FILE.
ENV_PREFIXES = ("OPENCLAW_", "DJANGO_")
ENV_NAMES = frozenset(
    {
        "DATABASE_URL",
        "REDIS_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API",
        "OPENAI_MODELS",
        "TELEGRAM_BOT_TOKEN",
        "LOG_FORMAT",
        "LOG_LEVEL",
        "TZ",
    }
)
# Set by the unit itself, or by the gateway for the processes it starts.
NOT_CARRIED = frozenset(
    {
        "OPENCLAW_DATA_DIR",
        "OPENCLAW_BROKER_SOCKET",
        "OPENCLAW_BROKER_KEY",
        "DJANGO_SETTINGS_MODULE",
    }
)
# Team mode's units fail at start without these (README, Team mode).
TEAM_NEEDS = ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "OPENCLAW_ENCRYPTION_KEY")
UNIT_MODE = 0o644
ENV_MODE = 0o600


class DaemonError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FileStatus(StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    REPLACED = "replaced"
    KEPT = "kept"  # exists with other content, not replaced


@dataclass(frozen=True)
class DaemonFile:
    path: Path
    content: str
    mode: int

    def differs(self) -> bool:
        """True when the file exists with other content (replacing it needs a yes)."""
        try:
            return self.path.read_text(encoding="utf-8") != self.content
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise DaemonError(f"cannot read {self.path}: {exc.strerror}") from None


@dataclass(frozen=True)
class DaemonPlan:
    files: tuple[DaemonFile, ...]
    units: tuple[str, ...]
    commands: tuple[str, ...]
    team: bool
    system: bool
    data_dir: Path


def carried_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``environ`` the units need (see ``ENV_NAMES``)."""
    out = {}
    for name, value in environ.items():
        base = name.removesuffix("_FILE")
        wanted = base in ENV_NAMES or base.startswith(ENV_PREFIXES)
        if wanted and name not in NOT_CARRIED and value != "":
            out[name] = value
    return out


def team_check(environ: Mapping[str, str]) -> None:
    """Raise DaemonError unless ``environ`` holds what team-mode units need."""
    missing = [n for n in TEAM_NEEDS if not (environ.get(n) or environ.get(f"{n}_FILE"))]
    if missing:
        raise DaemonError(
            f"team mode's units need {', '.join(missing)} in the environment (they are "
            "copied into the EnvironmentFile); export them and run again (README, Team mode)"
        )
    database = environ.get("DATABASE_URL", "postgres://")
    if not database.startswith(("postgres://", "postgresql://", "pgsql://")):
        raise DaemonError(
            "team mode needs PostgreSQL: DATABASE_URL must be postgres://user:pass@host/db"
        )


def daemon_plan(
    *,
    system: bool,
    team: bool,
    environ: Mapping[str, str],
    python: str,
    workdir: Path,
    data_dir: Path,
    run_as: str,
    unit_dir: Path | None = None,
    env_file: Path | None = None,
) -> DaemonPlan:
    """Render the units and the EnvironmentFile, and the lines that start them.

    ``unit_dir``/``env_file`` default to the user's (``~/.config``) or, with ``system``,
    the system's folders. Raises DaemonError for a team mode without its settings.
    """
    if team:
        team_check(environ)
    default_dir = SYSTEM_UNIT_DIR if system else USER_UNIT_DIR
    unit_dir = (unit_dir or default_dir).expanduser().absolute()
    env_file = (env_file or (SYSTEM_ENV_FILE if system else USER_ENV_FILE)).expanduser()
    env_file = env_file.absolute()
    spec = UnitSpec(
        python=python,
        workdir=str(workdir),
        env_file=str(env_file),
        data_dir=str(data_dir),
        team=team,
        system=system,
        run_as=run_as,
    )
    try:
        env_text = env_file_text(carried_environment(environ))
    except ValueError as exc:
        raise DaemonError(f"cannot write the EnvironmentFile: {exc}") from None
    units = render_units(spec)
    files = [DaemonFile(unit_dir / name, text, UNIT_MODE) for name, text in units.items()]
    files.append(DaemonFile(env_file, env_text, ENV_MODE))
    # A folder systemd does not read: enable by path (systemctl links the file in).
    is_default = unit_dir == default_dir.expanduser().absolute()
    targets = list(units) if is_default else [str(unit_dir / name) for name in units]
    commands = systemctl_lines(targets=targets, system=system, run_as=run_as, team=team)
    return DaemonPlan(tuple(files), tuple(units), tuple(commands), team, system, data_dir)


def _write(file: DaemonFile) -> None:
    """Write through a temporary file and rename, so a unit is never half written."""
    file.path.parent.mkdir(
        mode=0o700 if file.mode == ENV_MODE else 0o755, parents=True, exist_ok=True
    )
    tmp = file.path.with_name(f".{file.path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file.mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(file.content)
    os.chmod(tmp, file.mode)
    os.replace(tmp, file.path)


def daemon_install(
    *, plan: DaemonPlan, replace: Collection[Path] = ()
) -> list[tuple[DaemonFile, FileStatus]]:
    """Write the plan's files; return each with what happened to it.

    A file with the same content is left alone, one with other content is kept unless
    it is in ``replace``; the EnvironmentFile ends mode 600 whatever happened. Team
    mode's beat keeps its schedule in the data dir, which is created (mode 700).
    """
    done = []
    try:
        for file in plan.files:
            if not file.path.exists():
                _write(file)
                status = FileStatus.CREATED
            elif not file.differs():
                status = FileStatus.UNCHANGED
            elif file.path in replace:
                _write(file)
                status = FileStatus.REPLACED
            else:
                status = FileStatus.KEPT
            if file.mode == ENV_MODE and stat.S_IMODE(file.path.stat().st_mode) != ENV_MODE:
                file.path.chmod(ENV_MODE)
            done.append((file, status))
        if plan.team:
            plan.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except PermissionError as exc:
        hint = "run it with sudo" if plan.system else "check the folder's owner"
        raise DaemonError(
            f"cannot write {exc.filename}: permission denied; {hint}, or write the units "
            "elsewhere with --unit-dir and --env-file"
        ) from None
    return done
