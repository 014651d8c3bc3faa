"""Every task goes to a queue the workers listen on (CELERY_TASK_ROUTES)."""

from __future__ import annotations

import pytest

from gateway.embedded import QUEUES
from openclaw_site.celery import app


def _queue_of(name: str) -> str:
    route = app.amqp.router.route({}, name)
    return str(route["queue"].name)


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("agents.run_advance", "llm"),
        ("agents.session_compact", "llm"),
        ("gateway.work_sweep", "default"),
        ("channels.inbound_process", "connectors"),
        ("channels.outbound_send", "connectors"),
        ("channels.poll", "connectors"),
        ("channels.typing_send", "connectors"),
        ("channels.sweep", "connectors"),
    ],
)
def test_tasks_are_routed_to_their_queue(task: str, queue: str) -> None:
    assert _queue_of(task) == queue


def test_every_registered_task_goes_to_a_queue_the_workers_consume() -> None:
    app.loader.import_default_modules()
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert {"agents.run_advance", "channels.poll", "channels.outbound_send"} <= set(ours)
    for name in ours:
        assert _queue_of(name) in QUEUES, name
