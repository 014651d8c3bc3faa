"""Fixtures of the cron tests: captured tasks, events and deliveries, and finished turns.

``agents/tests/conftest.py`` and ``gateway/tests/conftest.py`` make them available.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.models import Agent, Run
from agents.runtime import enqueue
from core import delivery, events
from sessions_app.services import session_message_append

Sent = list[tuple[str, int]]
Published = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def cron_sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Tasks handed to the broker (name, pk); nothing runs."""
    tasks: Sent = []
    monkeypatch.setattr(enqueue, "send", lambda name, *args: tasks.append((name, *args)))
    return tasks


@pytest.fixture
def cron_events(monkeypatch: pytest.MonkeyPatch) -> Published:
    seen: Published = []

    def publisher(event: str, payload: dict[str, Any], **kwargs: Any) -> None:
        seen.append((event, json.loads(json.dumps(payload))))  # JSON-safe at the call site

    monkeypatch.setattr(events, "_publisher", publisher)
    return seen


@pytest.fixture
def cron_outbox(monkeypatch: pytest.MonkeyPatch) -> list[delivery.ChannelMessage]:
    """Messages accepted by a fake outbox (refuses chat id ``refuse``)."""
    messages: list[delivery.ChannelMessage] = []

    def deliver(message: delivery.ChannelMessage) -> delivery.Accepted:
        if message.chat_id == "refuse":
            raise delivery.DeliveryError("the outbox refused it")
        messages.append(message)
        return delivery.Accepted(
            len(messages), "m", message.channel, message.chat_id, "pending", True
        )

    monkeypatch.setattr(delivery, "_deliverer", deliver)
    return messages


@pytest.fixture
def cron_agent() -> Agent:
    return Agent.objects.create(slug="main", name="Main", is_default=True)


def end_turn(run: Run, *, status: str = Run.Status.SUCCEEDED, reply: str = "All done.") -> None:
    """End a turn as the run loop would: its reply in the transcript, its status set."""
    if status == Run.Status.SUCCEEDED:
        session_message_append(
            session=run.session,
            role="assistant",
            content=[{"type": "text", "text": reply}],
            run_public_id=run.public_id,
            model="openai/gpt-4o-mini",
        )
    Run.objects.filter(pk=run.pk).update(
        status=status, error_message="" if status == Run.Status.SUCCEEDED else "provider down"
    )
