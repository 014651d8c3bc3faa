"""Fixtures shared by this app's test modules."""

from __future__ import annotations

from agents.tests.cron_fixtures import (  # noqa: F401  (fixtures)
    cron_agent,
    cron_events,
    cron_outbox,
    cron_sent,
)
