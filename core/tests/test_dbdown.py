"""A periodic chore or loop that meets the database down logs the outage once when it
starts and once when it ends, not a traceback every few seconds."""

from __future__ import annotations

import logging

import pytest
from django.db import InterfaceError, OperationalError

from core.dbdown import Outage, chore


def test_a_chore_logs_an_outage_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    down = [True]
    ran: list[str] = []

    @chore("cron tick")
    def tick() -> None:
        if down[0]:
            raise OperationalError('connection to server at "10.0.0.5", port 5432 failed')
        ran.append("tick")

    with caplog.at_level(logging.INFO, logger="core.dbdown"):
        for _ in range(5):
            tick()  # skipped, nothing raised
        down[0] = False
        tick()
        tick()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines[0][0] == "WARNING"
    assert lines[0][1].startswith("cron tick: the database is unavailable")
    assert lines[1][0] == "INFO"
    assert lines[1][1].startswith("cron tick: the database answers again")
    assert len(lines) == 2
    assert ran == ["tick", "tick"]


def test_a_chore_lets_other_errors_through() -> None:
    @chore("work sweep")
    def sweep() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        sweep()


def test_a_dead_kept_connection_counts_as_the_database_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = Outage("run watchdog")
    with caplog.at_level(logging.INFO, logger="core.dbdown"):
        outage.ok()  # never down: nothing to say
        outage.failed(InterfaceError("connection already closed"))
        outage.failed(InterfaceError("connection already closed"))
        outage.ok()
        outage.ok()
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
