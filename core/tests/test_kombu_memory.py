"""The in-process broker wakes a waiting consumer on publish instead of polling.

Correctness checks, not benchmarks: the polling interval is 5 s, so anything under a
second proves the publish woke the consumer.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

TRANSPORT = "core.kombu_memory:Transport"
POLLING_INTERVAL = 5.0


def _connection() -> Any:
    return Connection(
        "memory://", transport=TRANSPORT, transport_options={"polling_interval": POLLING_INTERVAL}
    )


@pytest.fixture
def queue() -> Queue:
    # Memory queues are process-wide: a unique name keeps tests apart.
    name = f"test-{uuid.uuid4().hex}"
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


@pytest.fixture
def connection() -> Iterator[Any]:
    conn = _connection()
    try:
        yield conn
    finally:
        conn.release()


def test_connection_uses_the_waking_transport(connection: Any) -> None:
    from core.kombu_memory import Transport

    assert isinstance(connection.transport, Transport)


def test_publish_from_another_thread_wakes_a_blocked_consumer(
    connection: Any, queue: Queue
) -> None:
    received: list[tuple[Any, float]] = []
    published_at: list[float] = []
    errors: list[BaseException] = []

    def on_message(body: Any, message: Any) -> None:
        received.append((body, time.monotonic()))
        message.ack()

    def publish() -> None:
        try:
            # Long enough for the consumer to have polled once and gone to wait.
            time.sleep(0.3)
            with _connection() as producer_connection:
                producer = producer_connection.Producer()
                published_at.append(time.monotonic())
                producer.publish({"pk": 7}, exchange=queue.exchange, routing_key=queue.routing_key)
        except BaseException as exc:
            errors.append(exc)

    with connection.Consumer(queue, callbacks=[on_message], accept=["json"]):
        publisher = threading.Thread(target=publish, daemon=True)
        started = time.monotonic()
        publisher.start()
        connection.drain_events(timeout=10)
        elapsed = time.monotonic() - started
        publisher.join(timeout=5)

    assert errors == []
    assert [body for body, _ in received] == [{"pk": 7}]
    assert received[0][1] - published_at[0] < 1.0
    assert elapsed < 2.0  # far below the 5 s an unwoken poll would take


def test_message_published_before_draining_is_delivered_at_once(
    connection: Any, queue: Queue
) -> None:
    received: list[Any] = []

    def on_message(body: Any, message: Any) -> None:
        received.append(body)
        message.ack()

    with connection.Consumer(queue, callbacks=[on_message], accept=["json"]):
        connection.Producer().publish(
            {"pk": 1}, exchange=queue.exchange, routing_key=queue.routing_key
        )
        started = time.monotonic()
        connection.drain_events(timeout=5)

    assert received == [{"pk": 1}]
    assert time.monotonic() - started < 1.0


def test_idle_drain_times_out_on_time(connection: Any, queue: Queue) -> None:
    with connection.Consumer(queue, callbacks=[], accept=["json"]):
        started = time.monotonic()
        with pytest.raises(socket.timeout):
            connection.drain_events(timeout=0.2)
        elapsed = time.monotonic() - started

    assert 0.15 <= elapsed < 1.0
