"""Event fan-out: per-connection queues, slow consumers, and health from cache."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest import mock

import pytest

from gateway import bus, state
from gateway.connect import Principal
from gateway.consumers import GatewayConsumer
from gateway.frames import ConnectParams
from gateway.methods.system import HealthParams, health


def _consumer(*, blocked: bool) -> tuple[GatewayConsumer, list[str], asyncio.Event]:
    """A consumer past its handshake whose socket either reads or never reads."""
    consumer = GatewayConsumer()
    consumer.scope = {"type": "websocket", "headers": [], "client": ("127.0.0.1", 1)}  # type: ignore[typeddict-item]
    sent: list[str] = []
    gate = asyncio.Event()
    if not blocked:
        gate.set()

    async def send(text_data: str | None = None, **kwargs: Any) -> None:
        await gate.wait()  # a client that stops reading makes send() wait forever
        if text_data is not None:
            sent.append(text_data)

    async def accept(*args: Any, **kwargs: Any) -> None:
        return None

    closed: list[int] = []

    async def close(code: int | None = None, reason: str | None = None) -> None:
        closed.append(code or 0)

    consumer.send = send  # type: ignore[method-assign, assignment]
    consumer.accept = accept  # type: ignore[method-assign]
    consumer.close = close  # type: ignore[method-assign]
    consumer.closed_codes = closed  # type: ignore[attr-defined]
    return consumer, sent, gate


async def _connected(consumer: GatewayConsumer) -> None:
    await consumer.connect()
    consumer._handshake.cancel()
    consumer.principal = Principal("operator", frozenset({"operator.read"}), "token")
    consumer.params = ConnectParams.model_validate(
        {"minProtocol": 4, "maxProtocol": 4, "client": {"id": "cli", "mode": "cli"}}
    )
    bus.attach(consumer)


def _chat_event(i: int) -> dict[str, Any]:
    return {
        "event": "chat",
        "payload": {"runId": "r", "state": "delta", "deltaText": "x" * 1000, "seq": i},
        "scope": None,
        "dropIfSlow": False,
        "sessionKey": "agent:main:main",
    }


@pytest.mark.asyncio
async def test_a_slow_client_is_closed_and_never_stalls_the_others(settings: Any) -> None:
    settings.GATEWAY_MAX_BUFFERED_BYTES = 64 * 1024
    slow, _slow_sent, _gate = _consumer(blocked=True)
    fast, fast_sent, _ = _consumer(blocked=False)
    await _connected(slow)
    await _connected(fast)
    try:
        for i in range(200):  # ~200 KB: three times the slow client's allowance
            bus.dispatch_local(_chat_event(i))
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        # The fast client got every event, in order, with its own contiguous seq.
        events = [json.loads(t) for t in fast_sent if '"event":"chat"' in t]
        assert len(events) == 200
        assert [e["seq"] for e in events] == list(range(events[0]["seq"], events[0]["seq"] + 200))
        # The slow one is being closed as a slow consumer with 1008; its backlog is gone.
        assert slow.closing
        assert slow.outbound.buffered_bytes == 0
    finally:
        for consumer in (slow, fast):
            await consumer.disconnect(1000)


@pytest.mark.asyncio
async def test_droppable_events_are_skipped_for_a_slow_client(settings: Any) -> None:
    settings.GATEWAY_MAX_BUFFERED_BYTES = 64 * 1024
    slow, _sent, gate = _consumer(blocked=True)
    await _connected(slow)
    try:
        for i in range(200):
            message = _chat_event(i)
            message["dropIfSlow"] = True
            bus.dispatch_local(message)
        assert not slow.closing  # dropped, not closed
        assert slow.outbound.buffered_bytes <= settings.GATEWAY_MAX_BUFFERED_BYTES
    finally:
        gate.set()
        await slow.disconnect(1000)


@pytest.mark.asyncio
async def test_events_need_read_scope_and_session_events_need_a_subscription() -> None:
    consumer, sent, _ = _consumer(blocked=False)
    await _connected(consumer)
    consumer.principal = Principal("operator", frozenset(), "token")
    try:
        bus.dispatch_local(_chat_event(1))
        bus.dispatch_local(
            {"event": "sessions.changed", "payload": {}, "scope": None, "sessionKey": "k"}
        )
        await asyncio.sleep(0.01)
        assert not [t for t in sent if '"event":"chat"' in t]
        consumer.principal = Principal("operator", frozenset({"operator.read"}), "token")
        bus.dispatch_local(
            {"event": "sessions.changed", "payload": {}, "scope": None, "sessionKey": "k"}
        )
        await asyncio.sleep(0.01)
        assert not [t for t in sent if "sessions.changed" in t]
        consumer.subscribe_sessions(None)
        bus.dispatch_local(
            {"event": "sessions.changed", "payload": {}, "scope": None, "sessionKey": "k"}
        )
        await asyncio.sleep(0.01)
        assert [t for t in sent if "sessions.changed" in t]
    finally:
        await consumer.disconnect(1000)


@pytest.mark.asyncio
async def test_publish_from_another_thread_reaches_the_loop() -> None:
    consumer, sent, _ = _consumer(blocked=False)
    await _connected(consumer)
    try:
        # Team mode (the PostgreSQL + Redis pass): the group listener must have joined.
        assert await bus.wait_listening()
        await asyncio.to_thread(
            bus.publish, "chat", {"runId": "t", "state": "final"}, session_key="agent:main:main"
        )
        for _ in range(50):
            if any('"runId":"t"' in t for t in sent):
                break
            await asyncio.sleep(0.01)
        assert any('"runId":"t"' in t for t in sent)
    finally:
        await consumer.disconnect(1000)


# database_sync_to_async tidies the thread's connections around the (mocked) build,
# which needs database access allowed; the summary itself is built only once.
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_health_is_served_from_cache_without_a_database_call() -> None:
    state.health_reset()
    summary = {"ok": True, "ts": 1, "agents": []}
    with mock.patch("gateway.state.health_summary", return_value=summary) as built:
        first = await health(mock.Mock(), HealthParams())
        for _ in range(20):
            await health(mock.Mock(), HealthParams())
        assert built.call_count == 1
        await health(mock.Mock(), HealthParams(probe=True))
        assert built.call_count == 2
    assert first["ok"] is True
    state.health_reset()
