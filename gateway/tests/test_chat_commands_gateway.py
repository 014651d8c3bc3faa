"""In-chat commands through ``chat.send``, over the real consumer, as OpenClaw's clients see them.

A command starts no run: the answer is ``{runId, status:"ok"}`` and one ``chat`` ``final``
event on that runId with the reply as an assistant message (the TUI and the Control UI
show a final event's message); a stop command answers ``{ok, aborted, runIds}`` as
OpenClaw's does. Anything else, unknown ``/words`` included, starts a turn.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.core.cache import cache

from agents.models import Run
from agents.tests.factories import AgentFactory
from channels_app.models import OutboundMessage
from gateway import scopes as gw_scopes
from gateway import state
from gateway.ratelimit import auth_rate_limiter
from gateway.services import gateway_token_create
from pairing.models import PairingRequest
from pairing.tests.factories import PairingRequestFactory
from sessions_app.models import Message, Session
from tests.openclaw_client import InProcessClient, release_worker_db_connections

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

TOKEN = "chat-commands-token-" + "0123456789abcdef" * 2
KEY = "agent:main:main"


@pytest_asyncio.fixture
async def client(transactional_db: None) -> AsyncIterator[InProcessClient]:
    await sync_to_async(gateway_token_create)(name="ops", token=TOKEN, scopes=[gw_scopes.ADMIN])
    await sync_to_async(AgentFactory.create)(slug="main", is_default=True)
    auth_rate_limiter.reset()
    cache.clear()
    async with InProcessClient() as connected:
        hello = await connected.connect(token=TOKEN, scopes=[gw_scopes.READ, gw_scopes.WRITE])
        assert hello["ok"], hello
        yield connected
    state.presence.clear()
    await release_worker_db_connections()


async def _send(client: InProcessClient, message: str, key: str = "main") -> tuple[str, Any]:
    run_id = str(uuid.uuid4())
    frame = await client.call(
        "chat.send", {"sessionKey": key, "message": message, "idempotencyKey": run_id}
    )
    assert frame["ok"], frame
    return run_id, frame["payload"]


async def _final(client: InProcessClient, run_id: str) -> dict[str, Any]:
    while True:
        event = await client.wait_event("chat")
        payload: dict[str, Any] = event["payload"]
        if payload["runId"] == run_id and payload["state"] == "final":
            return payload


def _text(payload: dict[str, Any]) -> str:
    message = payload["message"]
    assert message["role"] == "assistant"
    (block,) = message["content"]
    assert block["type"] == "text"
    text: str = block["text"]
    return text


async def test_status_answers_ok_and_a_final_event_and_starts_no_run(
    client: InProcessClient,
) -> None:
    run_id, answer = await _send(client, "/STATUS")

    assert answer == {"runId": run_id, "status": "ok"}
    final = await _final(client, run_id)
    assert {k: final[k] for k in ("sessionKey", "agentId", "state", "stopReason")} == {
        "sessionKey": KEY,
        "agentId": "main",
        "state": "final",
        "stopReason": "stop",
    }
    assert _text(final).startswith("🦞 OpenClaw status\n🤖 Agent: main")
    assert f"🧵 Session: {KEY}" in _text(final)
    assert await sync_to_async(Run.objects.count)() == 0
    # The gateway talking, not the agent: nothing enters the transcript (or the context).
    assert await sync_to_async(Message.objects.count)() == 0


async def test_new_resets_the_session_and_says_so(client: InProcessClient) -> None:
    first, _ = await _send(client, "hello")
    old_id = await sync_to_async(lambda: Session.objects.get(key=KEY).session_id)()

    run_id, answer = await _send(client, "/new@openclaw_bot")

    assert answer == {"runId": run_id, "status": "ok"}
    assert _text(await _final(client, run_id)).startswith("✅ New session started")
    assert await sync_to_async(lambda: Session.objects.get(key=KEY).session_id)() != old_id
    assert await sync_to_async(Run.objects.filter(run_id=first).exists)()


async def test_stop_answers_as_openclaw_and_aborts_the_queued_run(
    client: InProcessClient,
) -> None:
    queued, started = await _send(client, "write me a long story")
    assert started == {"runId": queued, "status": "started"}

    _run_id, answer = await _send(client, "stop")

    assert answer == {"ok": True, "aborted": True, "runIds": [queued]}
    aborted = (await client.wait_event("chat"))["payload"]
    assert (aborted["runId"], aborted["state"]) == (queued, "aborted")
    status = await sync_to_async(lambda: Run.objects.get(run_id=queued).status)()
    assert status == Run.Status.ABORTED
    _again, nothing = await _send(client, "/stop")
    assert nothing == {"ok": True, "aborted": False, "runIds": []}


async def test_an_unknown_command_goes_to_the_model(client: InProcessClient) -> None:
    run_id, answer = await _send(client, "/help me with this")

    assert answer == {"runId": run_id, "status": "started"}
    assert await sync_to_async(Run.objects.filter(run_id=run_id).exists)()


async def test_the_operator_approves_a_pairing_code_from_the_chat(client: InProcessClient) -> None:
    request = await sync_to_async(PairingRequestFactory.create)(code="K7MX3PQA", sender_ref="4242")

    run_id, _ = await _send(client, "/approve telegram k7mx3pqa")

    assert _text(await _final(client, run_id)).startswith(
        "✅ Approved K7MX3PQA: sender 4242 can now talk to the agent"
    )
    await sync_to_async(request.refresh_from_db)()
    assert request.status == PairingRequest.Status.APPROVED
    assert await sync_to_async(OutboundMessage.objects.filter(chat_id="4242").exists)()


async def test_a_command_that_cannot_be_done_says_why_in_the_chat(
    client: InProcessClient,
) -> None:
    run_id, answer = await _send(client, "/model nowhere/nothing")

    assert answer == {"runId": run_id, "status": "ok"}
    assert _text(await _final(client, run_id)).startswith(
        "⚠️ provider 'nowhere' is not configured here"
    )
    assert await sync_to_async(lambda: Session.objects.filter(key=KEY).first())() is None


async def test_a_command_on_a_malformed_key_is_refused(client: InProcessClient) -> None:
    frame = await client.call(
        "chat.send", {"sessionKey": "agent:main", "message": "/status", "idempotencyKey": "k1"}
    )

    assert not frame["ok"]
    assert frame["error"]["code"] == "INVALID_REQUEST"
    assert "malformed session key 'agent:main'" in frame["error"]["message"]
