"""Worker replies reach the connection whose handler waits for them, and no socket.

A slow method (``sessions.compact``) hands its work to a worker and awaits
``Connection.watch_reply(request_id)``; the worker's reply is published like any event
(``core.events``, across processes in team mode) and resolved by ``deliver_event``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from agents.services.compaction import COMPACTION_EVENT
from gateway import bus
from gateway.connect import Principal
from gateway.consumers import GatewayConsumer
from gateway.frames import ConnectParams

pytestmark = pytest.mark.asyncio


async def _consumer() -> tuple[GatewayConsumer, list[dict[str, Any]]]:
    consumer = GatewayConsumer()
    consumer.scope = {"type": "websocket", "headers": [], "client": ("127.0.0.1", 1)}  # type: ignore[typeddict-item]
    sent: list[dict[str, Any]] = []

    async def send(text_data: str | None = None, **kwargs: Any) -> None:
        if text_data is not None:
            sent.append(json.loads(text_data))

    async def noop(*args: Any, **kwargs: Any) -> None:
        return None

    consumer.send = send  # type: ignore[method-assign, assignment]
    consumer.accept = noop  # type: ignore[method-assign]
    consumer.close = noop  # type: ignore[method-assign]
    await consumer.connect()
    consumer._handshake.cancel()
    consumer.principal = Principal("operator", frozenset({"operator.admin"}), "token")
    consumer.params = ConnectParams.model_validate(
        {"minProtocol": 4, "maxProtocol": 4, "client": {"id": "cli", "mode": "cli"}}
    )
    bus.attach(consumer)
    return consumer, sent


def _reply(request_id: str, **payload: Any) -> dict[str, Any]:
    return {
        "event": COMPACTION_EVENT,
        "payload": {"requestId": request_id, "sessionKey": "agent:main:main", **payload},
        "scope": None,
        "dropIfSlow": False,
        "sessionKey": "agent:main:main",
    }


async def test_a_reply_resolves_its_waiter_and_is_never_sent_to_a_socket() -> None:
    waiting, waiting_sent = await _consumer()
    other, other_sent = await _consumer()
    try:
        future = waiting.watch_reply("compact:1")
        bus.dispatch_local(_reply("compact:2", ok=True))  # someone else's
        await asyncio.sleep(0.01)
        assert not future.done()
        bus.dispatch_local(_reply("compact:1", ok=True, outcome={"compacted": False}))
        reply = await asyncio.wait_for(future, 1)
        assert reply["ok"] is True
        assert reply["outcome"] == {"compacted": False}
        await asyncio.sleep(0.01)
        for sent in (waiting_sent, other_sent):
            assert [f for f in sent if f.get("event") == COMPACTION_EVENT] == []
        assert waiting.subs.reply_waiters == {}
    finally:
        for consumer in (waiting, other):
            await consumer.disconnect(1000)


async def test_a_waiter_given_up_on_is_forgotten_and_a_late_reply_is_harmless() -> None:
    consumer, sent = await _consumer()
    try:
        future = consumer.watch_reply("compact:late")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(future, 0.01)
        assert consumer.subs.reply_waiters == {}
        bus.dispatch_local(_reply("compact:late", ok=True))
        await asyncio.sleep(0.01)
        assert [f for f in sent if f.get("event") == COMPACTION_EVENT] == []
    finally:
        await consumer.disconnect(1000)


async def test_disconnect_cancels_the_waiting_handlers() -> None:
    consumer, _ = await _consumer()
    reply = consumer.watch_reply("compact:gone")
    run = consumer.watch_run("run-gone")
    await consumer.disconnect(1000)
    assert reply.cancelled()
    assert run.cancelled()


async def test_a_reply_published_on_a_worker_thread_reaches_the_waiter_through_the_bus() -> None:
    """Embedded mode hands it to the event loop; team mode sends it through Redis."""
    consumer, sent = await _consumer()
    try:
        assert await bus.wait_listening()
        future = consumer.watch_reply("compact:worker")
        await asyncio.to_thread(
            bus.publish,
            COMPACTION_EVENT,
            {"requestId": "compact:worker", "ok": True},
            session_key="agent:main:main",
        )
        reply = await asyncio.wait_for(future, 5)
        assert reply == {"requestId": "compact:worker", "ok": True}
        assert [f for f in sent if f.get("event") == COMPACTION_EVENT] == []
    finally:
        await consumer.disconnect(1000)
