"""``manage.py security_audit``: what in this deployment weakens its security.

Each check looks at the settings, the data dir or the database and returns findings:
``critical`` (fix now), ``warn`` (a deliberate choice, or fix soon). ``--fix`` repairs only
what is safe to change without asking: file and folder permissions.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from agents.models import Agent, ModelProvider
from agents.tools.sandbox import MECHANISMS
from agents.tools.sandbox.command import mechanism_works
from channels_app.models import ChannelAccount
from gateway import listen
from gateway.services import weak_credentials

FERNET_PREFIX = "gAAAAA"  # every Fernet token starts with its version byte 0x80


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str  # "critical" or "warn"
    problem: str
    fix: str
    fixable: bool = False
    path: str = ""
    mode: int = 0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("mode")
        return data


def _configured_bind() -> str:
    """The bind a start without flags takes: environment > database > loopback."""
    return str(listen.configured(listen.stored())["bind"])


def _bind() -> Iterator[Finding]:
    bind = _configured_bind()
    if bind == "loopback":
        return
    if not settings.GATEWAY_PASSWORD and not settings.GATEWAY_TOKEN:
        yield Finding(
            "bind",
            "critical",
            f"the gateway binds {bind} (beyond loopback) with no token or "
            "password set in the environment",
            "set OPENCLAW_GATEWAY_TOKEN to `openssl rand -hex 24`, or bind loopback",
        )
    for problem in weak_credentials():
        yield Finding("bind", "critical", f"beyond loopback: {problem}", problem.split(": ")[-1])


def _tokens() -> Iterator[Finding]:
    if _configured_bind() != "loopback":
        return  # _bind reported them as critical
    for problem in weak_credentials():
        yield Finding("token", "warn", problem, problem.split(": ")[-1])


def _channels() -> Iterator[Finding]:
    for account in ChannelAccount.objects.enabled().order_by("pk"):
        if account.dm_policy == "open":
            yield Finding(
                "dm_policy",
                "warn",
                f'{account}: dmPolicy "open" lets anyone who finds the bot talk to the agent',
                f"manage.py config set channels.{account.kind}.dmPolicy pairing",
            )
        if account.group_policy == "open":
            yield Finding(
                "group_policy",
                "warn",
                f'{account}: groupPolicy "open" answers in any group the bot is added to',
                f"manage.py config set channels.{account.kind}.groupPolicy allowlist",
            )


def _debug() -> Iterator[Finding]:
    if settings.DEBUG:
        yield Finding(
            "debug",
            "critical",
            "DJANGO_DEBUG is on: error pages show settings, paths and code to anyone",
            "unset DJANGO_DEBUG (or set it to false) and restart",
        )


def _private(path: Path, wanted: int, check: str, severity: str, what: str) -> Iterator[Finding]:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        yield Finding(
            check,
            severity,
            f"{what} {path} is readable by other users (mode {mode:o})",
            f"chmod {wanted:o} {path}",
            fixable=True,
            path=str(path),
            mode=wanted,
        )


def file_findings() -> Iterator[Finding]:
    """The data dir, key files and database readable by other users (doctor uses it too)."""
    if settings.TEAM_MODE:
        return
    data = Path(settings.DATA_DIR)
    yield from _private(data, 0o700, "data_dir", "warn", "the data dir")
    yield from _private(
        Path(settings.ENCRYPTION_KEY_FILE), 0o600, "key_file", "critical", "the encryption key"
    )
    yield from _private(
        Path(settings.SECRET_KEY_FILE), 0o600, "key_file", "critical", "the secret key"
    )
    database = Path(str(settings.DATABASES["default"]["NAME"]))
    if connection.vendor == "sqlite":
        yield from _private(database, 0o600, "database", "warn", "the database")


def _raw_values(model: Any, column: str) -> Iterator[tuple[int, str]]:
    table = connection.ops.quote_name(model._meta.db_table)
    name = connection.ops.quote_name(column)
    with connection.cursor() as cursor:
        # Names come from the model; nothing here comes from a user.
        cursor.execute(f"SELECT id, {name} FROM {table} WHERE {name} <> ''")  # noqa: S608
        yield from ((int(pk), str(value)) for pk, value in cursor.fetchall())


def _secrets() -> Iterator[Finding]:
    for model, column, what in (
        (ChannelAccount, "credentials", "channel account credentials"),
        (ModelProvider, "api_key", "model provider key"),
    ):
        for pk, value in _raw_values(model, column):
            if not value.startswith(FERNET_PREFIX):
                yield Finding(
                    "unencrypted_secret",
                    "critical",
                    f"{what} of {model._meta.verbose_name} {pk} are stored in plain text",
                    "open it in the admin and save it again (it is encrypted on save), then "
                    "rotate the secret: it may have been copied",
                )


def _exec() -> Iterator[Finding]:
    off = list(
        Agent.objects.filter(sandbox_mode=Agent.SandboxMode.OFF).values_list("slug", flat=True)
    )
    for slug in off:
        yield Finding(
            "exec",
            "warn",
            f"agent {slug!r} has sandbox mode off: exec of every session of its owners runs on "
            "the host (senders who are not owners are still sandboxed)",
            f"set the agent's sandbox mode to non-main (admin: Agents → {slug})",
        )
    if Agent.objects.exclude(sandbox_mode=Agent.SandboxMode.OFF).exists() and not any(
        mechanism_works(m) for m in MECHANISMS
    ):
        yield Finding(
            "exec",
            "warn",
            "no sandbox works on this machine (bubblewrap or user namespaces): sandboxed "
            "sessions cannot run exec",
            "install bubblewrap (Debian: apt install bubblewrap)",
        )


CHECKS: tuple[Callable[[], Iterator[Finding]], ...] = (
    _bind,
    _tokens,
    _channels,
    _debug,
    file_findings,
    _secrets,
    _exec,
)


def security_audit() -> list[Finding]:
    """Every finding, most severe first."""
    found = [finding for check in CHECKS for finding in check()]
    return sorted(found, key=lambda f: f.severity != "critical")


def security_fix(findings: list[Finding]) -> list[Finding]:
    """Apply the safe fixes (permissions); return the findings fixed."""
    fixed = []
    for finding in findings:
        if finding.fixable and finding.path:
            os.chmod(finding.path, finding.mode)
            fixed.append(finding)
    return fixed
