"""systemd units for the gateway, rendered as text (``manage.py onboard --install-daemon``).

No Django imports: what a unit says is decided here from plain values, and tested
without a database. Embedded mode is one unit (the gateway runs Celery's worker and
beat in its own process); team mode adds a worker unit and a beat unit.

Values are escaped for systemd: ``%`` starts a specifier and ``$`` a variable in
``ExecStart=``, so both are doubled; words with spaces are quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

GATEWAY = "openclaw-gateway.service"
WORKER = "openclaw-worker.service"
BEAT = "openclaw-beat.service"
# The gateway's exit code for a configuration error: restarting cannot fix it.
EXIT_CONFIG_ERROR = 2
GATEWAY_STOP = (
    "TimeoutStopSec=10",
    f"# Exit code {EXIT_CONFIG_ERROR} is a configuration error (a bad setting, a weak token beyond",
    "# loopback, the port taken): a restart cannot fix it, so the unit stays stopped and",
    "# the journal says what to do.",
    f"RestartPreventExitStatus={EXIT_CONFIG_ERROR}",
)
# The documented team worker (README, docker/systemd/openclaw-worker.service).
WORKER_ARGS = (
    *("-m", "celery", "-A", "openclaw_site", "worker", "-l", "info"),
    *("-Q", "default,llm,connectors", "--pool", "threads", "-c", "8"),
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class UnitSpec:
    python: str  # the venv's python (not resolved: a venv's python is a symlink)
    workdir: str  # the project folder, where manage.py is
    env_file: str
    data_dir: str
    team: bool
    system: bool
    run_as: str = ""  # system units: the user the services run as


def _specifiers(text: str) -> str:
    return text.replace("%", "%%")


def exec_word(word: str) -> str:
    """One argument of ``ExecStart=``, escaped (and quoted when it has spaces)."""
    text = _specifiers(word).replace("$", "$$")
    if re.search(r"[\s\"'\\;]", text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def environment(name: str, value: str) -> str:
    """An ``Environment=`` line, quoted."""
    escaped = _specifiers(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'Environment="{name}={escaped}"'


def env_file_line(name: str, value: str) -> str:
    """``NAME='value'`` for an EnvironmentFile; ValueError for what it cannot hold."""
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an environment variable name")
    if "\n" in value or "\r" in value:
        raise ValueError(f"{name} holds a line break, which an EnvironmentFile cannot carry")
    if "'" not in value:
        return f"{name}='{value}'"
    escaped = "".join("\\" + ch if ch in '\\"$`' else ch for ch in value)
    return f'{name}="{escaped}"'


def env_file_text(values: Mapping[str, str]) -> str:
    lines = [
        "# Settings and secrets of the OpenClaw units, read by systemd (keep it mode 600).",
        "# Written by `manage.py onboard --install-daemon` from the environment it ran in;",
        "# edit it, then `systemctl restart` the units.",
    ]
    lines.extend(env_file_line(name, values[name]) for name in sorted(values))
    return "\n".join(lines) + "\n"


def _unit(
    spec: UnitSpec,
    *,
    description: str,
    comment: str,
    command: str,
    after: Sequence[str] = (),
    service: Sequence[str] = (),
) -> str:
    docs = PurePosixPath(spec.workdir, "docs", "onboarding.md").as_uri()
    order = [*(["network-online.target"] if spec.system else []), *after]
    unit = [f"Description={description}", f"Documentation={_specifiers(docs)}"]
    if spec.system:
        # User managers cannot see the system's network-online.target.
        unit.append("Wants=network-online.target")
    if order:
        unit.append(f"After={' '.join(order)}")
    lines = [
        *(f"# {line}" for line in comment.splitlines()),
        "# Written by `manage.py onboard --install-daemon`; settings and secrets are in the",
        "# EnvironmentFile (mode 600). Running onboard again keeps an edited file.",
        "",
        "[Unit]",
        *unit,
        "",
        "[Service]",
        "Type=simple",
        *([f"User={spec.run_as}"] if spec.system and spec.run_as else []),
        f"WorkingDirectory={_specifiers(spec.workdir)}",
        environment("PYTHONUNBUFFERED", "1"),
        environment("OPENCLAW_DATA_DIR", spec.data_dir),
        f"EnvironmentFile={_specifiers(spec.env_file)}",
        f"ExecStart={command}",
        "Restart=always",
        "RestartSec=5",
        "KillSignal=SIGTERM",
        # Each WebSocket is a file descriptor; systemd's default soft limit is 1024.
        "LimitNOFILE=65536",
        *service,
        "UMask=0077",
        *(["NoNewPrivileges=yes"] if spec.system else []),
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if spec.system else 'default.target'}",
    ]
    return "\n".join(lines) + "\n"


def _python(spec: UnitSpec, *args: str) -> str:
    return " ".join(exec_word(word) for word in (spec.python, *args))


def render_units(spec: UnitSpec) -> dict[str, str]:
    """The unit files, by file name: the gateway, and in team mode its worker and beat."""
    manage = str(PurePosixPath(spec.workdir, "manage.py"))
    if not spec.team:
        return {
            GATEWAY: _unit(
                spec,
                description="OpenClaw gateway (embedded mode)",
                comment=(
                    "Embedded mode: HTTP + WebSocket on one port (127.0.0.1:18789 unless\n"
                    "OPENCLAW_GATEWAY_BIND says otherwise), SQLite in the data dir, and\n"
                    "Celery's worker and beat inside the process."
                ),
                command=_python(spec, manage, "gateway"),
                # SIGTERM: sockets closed, runs in flight handed back, exit within 5 s.
                service=[*GATEWAY_STOP, "MemoryMax=400M"],
            )
        }
    # %H (the host name) is a specifier on purpose: one worker name per host.
    worker = _python(spec, *WORKER_ARGS)
    return {
        GATEWAY: _unit(
            spec,
            description="OpenClaw gateway (team mode)",
            comment=(
                "Team mode: HTTP + WebSocket on PostgreSQL and Redis; the worker and beat\n"
                "units run the tasks. It applies pending migrations when it starts."
            ),
            command=_python(spec, manage, "gateway"),
            service=list(GATEWAY_STOP),
        ),
        WORKER: _unit(
            spec,
            description="OpenClaw Celery worker (team mode)",
            comment="Team mode: a Celery worker (runs, connectors, deliveries); one per host.",
            command=f"{worker} --hostname worker@%H",
            after=[GATEWAY],
            # SIGTERM is Celery's warm shutdown; acks are late, so a task cut off after
            # this is redelivered and resumes from its last step.
            service=["KillMode=mixed", "TimeoutStopSec=60"],
        ),
        BEAT: _unit(
            spec,
            description="OpenClaw Celery beat (team mode, exactly one per installation)",
            comment=(
                "Team mode: Celery beat, the scheduler (sweeper, cron jobs). Enable it on ONE\n"
                "host only, or every schedule fires twice. Its schedule file is in the data dir."
            ),
            command=_python(spec, "-m", "celery", "-A", "openclaw_site", "beat", "-l", "info"),
            after=[GATEWAY],
            service=["TimeoutStopSec=10"],
        ),
    }


def systemctl_lines(*, targets: Sequence[str], system: bool, run_as: str, team: bool) -> list[str]:
    """The commands the operator runs to start the units (``targets``: unit names, or
    paths for a folder systemd does not read)."""
    ctl = "sudo systemctl" if system else "systemctl --user"
    lines = [f"{ctl} daemon-reload", f"{ctl} enable --now {' '.join(targets)}"]
    if not system:
        # A user's units start at boot and keep running after logout only with lingering.
        lines.append(f"loginctl enable-linger {run_as}")
    logs = "journalctl" if system else "journalctl --user"
    lines.append(f"{logs} -u openclaw-gateway -f")
    if team:
        lines.append(
            f"# beat: exactly one per installation; on other hosts: {ctl} disable --now {BEAT}"
        )
    return lines
