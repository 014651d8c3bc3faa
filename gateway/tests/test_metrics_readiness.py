"""``GET /ready`` names what is down: the database (PostgreSQL or SQLite) and Redis.

The failures are real: a PostgreSQL or Redis client pointed at a port nothing listens on,
a SQLite file in a directory that does not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import ConnectionHandler
from django.test import Client

from gateway import selectors
from tests.gateway_process import free_port as closed_port

pytestmark = pytest.mark.django_db


def _database(**config: Any) -> BaseDatabaseWrapper:
    handler = ConnectionHandler({"default": config})
    return handler["default"]


def _unreachable_postgresql() -> BaseDatabaseWrapper:
    return _database(
        ENGINE="django.db.backends.postgresql",
        NAME="openclaw",
        USER="postgres",
        HOST="127.0.0.1",
        PORT=str(closed_port()),
        OPTIONS={"connect_timeout": 2},
    )


def _ready(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/ready")
    return response.status_code, response.json()


def test_ready_when_the_database_answers(client: Client, settings: Any) -> None:
    settings.REDIS_URL = ""  # embedded mode, also in the PostgreSQL + Redis pass
    status, body = _ready(client)
    assert status == 200
    assert body["status"] == "ready"
    assert body["down"] == []
    assert body["checks"]["database"]["ok"] is True
    assert "redis" not in body["checks"]  # embedded mode has none


def test_unreachable_postgresql_is_named(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    database = _unreachable_postgresql()
    monkeypatch.setattr(selectors, "connection", database)
    try:
        status, body = _ready(client)
    finally:
        database.close()
    assert status == 503
    assert body["status"] == "not-ready"
    assert body["down"] == ["database"]
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert "127.0.0.1" not in str(body)  # no address for an anonymous caller


def test_unopenable_sqlite_is_named(
    client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    database = _database(
        ENGINE="django.db.backends.sqlite3", NAME=str(tmp_path / "missing" / "db.sqlite3")
    )
    monkeypatch.setattr(selectors, "connection", database)
    status, body = _ready(client)
    assert status == 503
    assert body["down"] == ["database"]


def test_unreachable_redis_is_named(client: Client, settings: Any) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    status, body = _ready(client)
    assert status == 503
    assert body["down"] == ["redis"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"] == "ConnectionError"


def test_both_down_are_both_named(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    database = _unreachable_postgresql()
    monkeypatch.setattr(selectors, "connection", database)
    try:
        status, body = _ready(client)
    finally:
        database.close()
    assert status == 503
    assert body["down"] == ["database", "redis"]


@pytest.mark.services
def test_ready_with_redis_up(client: Client, settings: Any, services: dict[str, str]) -> None:
    settings.REDIS_URL = services["REDIS_URL"]
    status, body = _ready(client)
    assert status == 200
    assert body["checks"]["redis"]["ok"] is True
    assert body["down"] == []
