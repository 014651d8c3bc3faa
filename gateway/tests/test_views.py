"""/health, /ready and static files through the ASGI app's HTTP side."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client


def test_health_answers_without_touching_the_database(client: Client) -> None:
    # No django_db mark: pytest-django raises on any database access in this test.
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["status"] == "live"
    assert isinstance(body["uptimeMs"], int)


@pytest.mark.django_db
def test_ready_checks_the_database(client: Client) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_ready_is_503_when_the_database_fails(client: Client) -> None:
    with mock.patch("gateway.selectors._check_database", side_effect=OperationalError("down")):
        response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["database"] == {
        "ok": False,
        "latencyMs": mock.ANY,
        "error": "OperationalError",
    }


def test_health_refuses_other_methods(client: Client) -> None:
    assert client.post("/health").status_code == 405


def test_admin_static_files_are_served(client: Client) -> None:
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
