"""Every ``manage.py`` command works on a fresh data dir: the database is set up first.

``manage.py`` calls ``database_prepare`` before any command but those that manage
migrations themselves, need no database, or (``gateway``) migrate after their own
start-up checks. Embedded mode migrates its own SQLite file, as the ``gateway`` command
does on its first start; team mode's shared database is migrated by the operator, so a
command there stops with one line saying what to run.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

# Commands that run without this: the migration commands, commands that need no tables,
# and the gateway (it migrates once its start-up checks pass).
SKIP = frozenset(
    {
        "",
        "gateway",
        "migrate",
        "makemigrations",
        "squashmigrations",
        "showmigrations",
        "sqlmigrate",
        "optimizemigration",
        "check",
        "help",
        "version",
        "test",
        "testserver",
        "collectstatic",
        "findstatic",
        "compilemessages",
        "makemessages",
        "diffsettings",
        "startapp",
        "startproject",
        "dbshell",
        "sendtestemail",
        # They report pending migrations (doctor --fix applies them after a backup).
        "doctor",
        "status",
    }
)


class DatabaseNotReadyError(Exception):
    """The database cannot be used as it is; the message says what to run."""


def database_prepare(command: str) -> str | None:
    """Apply unapplied migrations before ``command`` (embedded mode); return a line to
    show when it did, else None. Raises ``DatabaseNotReadyError`` in team mode, or when
    the database cannot be reached."""
    if command in SKIP or command.startswith("-"):
        return None
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        raise DatabaseNotReadyError(
            f"cannot open the database ({exc}); check DATABASE_URL or OPENCLAW_DATA_DIR"
        ) from None
    if not pending:
        return None
    if settings.TEAM_MODE:
        raise DatabaseNotReadyError(
            f"the database has {len(pending)} unapplied migration(s); run `manage.py migrate` first"
        )
    call_command("migrate", interactive=False, verbosity=0)
    return f"Set up the database in {settings.DATA_DIR} ({len(pending)} migrations applied)"
