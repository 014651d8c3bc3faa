"""``manage.py doctor``: is this gateway set up to run, and what to do when it is not.

Checks: the stored configuration reads back, the data dir and key files are private,
migrations are applied, Redis answers (team mode), the port is free or the gateway is on
it, the tokens are strong, and the channel accounts' credentials are usable. ``--fix``
repairs only what is safe: permissions, and pending migrations after a backup of the
database (SQLite's online backup, into ``<data dir>/backups/``). It never deletes
configuration.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from channels_app.models import ChannelAccount
from core.fields import Undecryptable
from gateway.catalog.config import config_document
from gateway.security_audit import Finding, file_findings, security_fix
from gateway.services import weak_credentials


@dataclass(frozen=True)
class Problem:
    check: str
    problem: str
    fix: str
    fixable: str = ""  # "permissions" or "migrate"
    finding: Finding | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "problem": self.problem,
            "fix": self.fix,
            "fixable": bool(self.fixable),
        }


def _config() -> list[Problem]:
    try:
        json.dumps(config_document())
    except Exception as exc:  # any failure to read it back is the finding
        return [Problem("config", f"the stored configuration does not read back: {exc}",
                        "`manage.py config get` names the path; set it again with config set")]  # fmt: skip
    return []


def _files() -> list[Problem]:
    return [Problem(f.check, f.problem, f.fix, "permissions", f) for f in file_findings()]


def pending_migrations() -> int:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _migrations() -> list[Problem]:
    try:
        pending = pending_migrations()
    except DatabaseError as exc:
        return [Problem("database", f"the database cannot be opened: {exc}",
                        "check DATABASE_URL or OPENCLAW_DATA_DIR")]  # fmt: skip
    if pending:
        return [Problem("migrations", f"{pending} migration(s) are not applied",
                        "`manage.py doctor --fix` (after a backup) or `manage.py migrate`",
                        "migrate" if connection.vendor == "sqlite" else "")]  # fmt: skip
    return []


def redis_error() -> str | None:
    """Why Redis at REDIS_URL does not answer a ping, or None (also when it is not used)."""
    if not settings.REDIS_URL:
        return None
    import redis  # noqa: PLC0415  (team mode only)

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return str(exc)
    finally:
        client.close()
    return None


def _redis() -> list[Problem]:
    error = redis_error()
    if error is None:
        return []
    return [Problem("redis", f"Redis at REDIS_URL does not answer: {error}",
                    "start Redis or fix REDIS_URL")]  # fmt: skip


def _port() -> list[Problem]:
    port = settings.GATEWAY_PORT
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) != 0:
            return []  # free: the gateway can take it
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as response:
            if json.loads(response.read()).get("ok"):
                return []  # the gateway is running on it
    except (OSError, ValueError):
        pass
    return [Problem("port", f"port {port} is taken by something that is not the gateway",
                    "stop it, or choose another port with OPENCLAW_GATEWAY_PORT / --port")]  # fmt: skip


def _tokens() -> list[Problem]:
    return [Problem("token", problem, problem.split(": ")[-1]) for problem in weak_credentials()]


def _channels() -> list[Problem]:
    problems = []
    for account in ChannelAccount.objects.order_by("kind", "account_id"):
        credentials: object = account.credentials
        if isinstance(credentials, Undecryptable):
            problems.append(Problem("channel", f"{account}: its credentials cannot be decrypted "
                                    "(the encryption key changed)",
                                    f"restore the old key, or set the token again: "
                                    f"`manage.py channels add {account.kind} --token …`"))  # fmt: skip
        elif account.enabled and account.failed_at is not None:
            problems.append(Problem("channel", f"{account}: the platform refused it: "
                                    f"{account.last_error}",
                                    f"set a new token, then `manage.py channels check {account.kind}`"))  # fmt: skip
    return problems


def doctor() -> list[Problem]:
    problems = _files() + _migrations() + _redis() + _port()
    if not any(p.check in ("database", "migrations") for p in problems):
        problems += _config() + _tokens() + _channels()  # these read the tables
    return problems


def backup_database() -> Path | None:
    """Copy the SQLite database (online backup) into the data dir's backups folder."""
    if connection.vendor != "sqlite":
        return None
    source = Path(str(settings.DATABASES["default"]["NAME"]))
    if not source.exists():
        return None
    folder = Path(settings.DATA_DIR) / "backups"
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / f"gateway-{timezone.now():%Y%m%d-%H%M%S}.sqlite3"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    target.chmod(0o600)
    return target


def doctor_fix(problems: list[Problem]) -> list[str]:
    """Repair what is safe; return what was done (a backup comes before any migration)."""
    findings = [p.finding for p in problems if p.fixable == "permissions" and p.finding]
    done = [finding.fix for finding in security_fix(findings)]
    if any(p.fixable == "migrate" for p in problems):
        backup = backup_database()
        if backup is not None:
            done.append(f"backed up the database to {backup}")
        call_command("migrate", interactive=False, verbosity=0)
        done.append("applied the pending migrations")
    return done
