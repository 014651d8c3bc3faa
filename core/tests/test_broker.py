"""A task message for a stored row, when the broker cannot be reached: logged and left to
the work sweeper, never an error for the request that stored the row."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from unittest import mock

import pytest
from celery import Celery

from core import broker


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed once the block ends: nothing listens


@pytest.fixture
def unreachable_app() -> Iterator[Celery]:
    """A real Celery app whose Redis broker is a closed port (no publish retries)."""
    app = Celery("broker-down", broker=f"redis://127.0.0.1:{_closed_port()}/0")
    app.conf.task_publish_retry = False
    app.conf.broker_connection_timeout = 1
    with mock.patch.object(broker, "current_app", app):
        yield app
    app.close()


def test_an_unreachable_broker_is_logged_not_raised(
    unreachable_app: Celery, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="core.broker"):
        assert broker.send_task("agents.run_advance", [42]) is False
    (record,) = caplog.records
    assert "broker is unreachable" in record.getMessage()
    assert "agents.run_advance(42,)" in record.getMessage()
    assert "work sweeper" in record.getMessage()


def test_a_reachable_broker_takes_the_message() -> None:
    app = Celery("broker-up", broker="memory://")
    with mock.patch.object(broker, "current_app", app):
        assert broker.send_task("agents.run_advance", [7], countdown=1.5) is True
    app.close()


def test_other_errors_still_raise() -> None:
    app = mock.Mock()
    app.send_task.side_effect = TypeError("bad arguments")
    with mock.patch.object(broker, "current_app", app), pytest.raises(TypeError):
        broker.send_task("agents.run_advance", [1])
