"""The ``DATABASES`` setting: PostgreSQL from ``DATABASE_URL``, else SQLite in the data dir.

Pure parsing and checks for ``openclaw_site.settings``; a bad URL or a too old SQLite
stops start-up with one line that says what to set.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from core.env import env_int

DATABASE_SCHEMES = frozenset({"postgres", "postgresql", "pgsql", "sqlite"})
SQLITE_ENGINE = "django.db.backends.sqlite3"
# Django's SQLite backend with writers queued in the process, not in SQLite's busy
# handler (core/sqlite/base.py).
GATEWAY_SQLITE_ENGINE = "core.sqlite"
# UPDATE ... RETURNING
SQLITE_MIN_VERSION = (3, 35)


def database_from_url(url: str) -> dict[str, Any]:
    """Return the database settings of ``url`` (PostgreSQL or SQLite)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in DATABASE_SCHEMES:
        raise ImproperlyConfigured(
            f"DATABASE_URL has scheme {scheme or '(none)'!r}; use "
            "postgres://user:password@host:5432/dbname (or sqlite:////absolute/path.sqlite3)"
        )
    config: dict[str, Any] = dict(environ.Env.db_url_config(url))
    if scheme != "sqlite" and not config.get("NAME"):
        raise ImproperlyConfigured(
            "DATABASE_URL names no database; use postgres://user:password@host:5432/dbname"
        )
    return config


def sqlite_options() -> dict[str, Any]:
    # WAL lets readers run beside the one writer; busy_timeout waits for the writer
    # instead of failing with "database is locked"; IMMEDIATE takes the write lock at
    # BEGIN so two writers never deadlock upgrading read locks (Django >= 5.1).
    return {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL;"
            " PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }


def default_database(url: str, *, team_mode: bool, data_dir: Path) -> dict[str, Any]:
    """Return ``DATABASES["default"]``: ``url``'s database, or SQLite in ``data_dir``."""
    if url:
        db = database_from_url(url)
    else:
        if team_mode:
            raise ImproperlyConfigured(
                "team mode (REDIS_URL set) needs DATABASE_URL pointing at PostgreSQL: "
                "every host must share one database"
            )
        db = {"ENGINE": SQLITE_ENGINE, "NAME": str(data_dir / "gateway.sqlite3")}
    if db["ENGINE"] in (SQLITE_ENGINE, GATEWAY_SQLITE_ENGINE):
        db["ENGINE"] = GATEWAY_SQLITE_ENGINE
        if sqlite3.sqlite_version_info < SQLITE_MIN_VERSION:
            raise ImproperlyConfigured(
                f"SQLite {sqlite3.sqlite_version} is too old: the gateway needs 3.35 or newer "
                "(UPDATE ... RETURNING); upgrade the OS's libsqlite3 or use DATABASE_URL"
            )
        db.setdefault("OPTIONS", {}).update(sqlite_options())
        # One connection per thread, kept: opening costs more than it saves.
        db["CONN_MAX_AGE"] = None
        # Tests use a file too (not Django's shared-cache in-memory database, whose table
        # locks fail concurrent threads at once): the WAL and busy_timeout the gateway runs
        # with are what the tests exercise.
        db["TEST"] = {"NAME": str(data_dir / "test-gateway.sqlite3")}
    else:
        # A connection per request cost 5x throughput on this kind of machine.
        db["CONN_MAX_AGE"] = env_int("DJANGO_CONN_MAX_AGE", 600, minimum=0)
        db["CONN_HEALTH_CHECKS"] = True
        db.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    return db
