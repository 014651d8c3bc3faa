"""A full chat turn against a live ``manage.py gateway`` with a real WebSocket client.

The gateway runs its embedded Celery worker, so a turn goes socket → chat.send →
run_start → task on the worker thread → placeholder provider → events back to the
socket, exactly as OpenClaw's CLI and TUI see it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.gateway_process import GatewayProcess, child_env

pytestmark = pytest.mark.process

TOKEN = "chat-flow-token-0123456789abcdefghij"
SCOPES = ["operator.read", "operator.write", "operator.admin"]
REPLY_PREFIX = "Placeholder reply (the offline placeholder/echo model): "
TIMEOUT_S = 20.0
Frame = dict[str, Any]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    data: Path = tmp_path_factory.mktemp("chat-flow") / "data"
    gw = GatewayProcess(child_env(data, OPENCLAW_GATEWAY_TOKEN=TOKEN)).start()
    try:
        yield gw
    finally:
        gw.stop()
        assert "Traceback" not in gw.stderr, gw.stderr


class Client:
    """A minimal OpenClaw operator client: requests by id, events kept in arrival order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.frames: list[Frame] = []  # everything received after hello-ok

    @classmethod
    async def open(cls, port: int) -> Client:
        ws = await connect(f"ws://127.0.0.1:{port}/", max_size=None)
        client = cls(ws)
        challenge = json.loads(await ws.recv())
        assert challenge["event"] == "connect.challenge"
        hello = await client.call(
            "connect",
            {
                "minProtocol": 4,
                "maxProtocol": 4,
                "client": {"id": "cli", "version": "test", "platform": "linux", "mode": "cli"},
                "caps": [],
                "auth": {"token": TOKEN},
                "role": "operator",
                "scopes": SCOPES,
            },
        )
        assert hello["ok"], hello
        assert sorted(hello["payload"]["auth"]["scopes"]) == sorted(SCOPES)
        client.frames.clear()
        return client

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, method: str, params: dict[str, Any]) -> str:
        request_id = f"{next(self.ids)}:{method}"
        await self.ws.send(
            json.dumps({"type": "req", "id": request_id, "method": method, "params": params})
        )
        return request_id

    async def wait_for(self, match: Callable[[Frame], bool], within: float = TIMEOUT_S) -> Frame:
        """Return the first frame (already received or next) that matches."""
        for frame in self.frames:
            if match(frame) and not frame.get("_taken"):
                frame["_taken"] = True
                return frame
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no matching frame within {within}s (if no chat/agent event arrived at "
                    "all, is gateway.bus.publish registered with core.events at start-up?); "
                    f"got {self.frames}"
                )
            received: Frame = json.loads(await asyncio.wait_for(self.ws.recv(), remaining))
            self.frames.append(received)
            if match(received):
                received["_taken"] = True
                return received

    async def res(self, request_id: str) -> Frame:
        return await self.wait_for(lambda f: f.get("type") == "res" and f["id"] == request_id)

    async def call(self, method: str, params: dict[str, Any]) -> Frame:
        return await self.res(await self.send(method, params))

    async def ok(self, method: str, params: dict[str, Any]) -> Any:
        frame = await self.call(method, params)
        assert frame["ok"], frame
        return frame["payload"]

    def events(self, name: str, run_id: str | None = None) -> list[Frame]:
        return [
            f["payload"]
            for f in self.frames
            if f.get("type") == "event"
            and f["event"] == name
            and (run_id is None or f["payload"].get("runId") == run_id)
        ]


def _run_final(run_id: str) -> Callable[[Frame], bool]:
    def match(frame: Frame) -> bool:
        return (
            frame.get("type") == "event"
            and frame["event"] == "chat"
            and frame["payload"].get("runId") == run_id
            and frame["payload"].get("state") in ("final", "error", "aborted")
        )

    return match


def _text(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(block["text"] for block in content if block.get("type") == "text")


async def _chat_turn(port: int) -> None:
    client = await Client.open(port)
    try:
        key = "agent:main:flow"
        sent = await client.ok(
            "chat.send",
            {"sessionKey": key, "message": "Hello gateway", "idempotencyKey": "flow-1"},
        )
        assert sent == {"runId": "flow-1", "status": "started"}

        final = (await client.wait_for(_run_final("flow-1")))["payload"]
        expected = REPLY_PREFIX + "Hello gateway"
        assert final["state"] == "final", final
        assert final["sessionKey"] == key
        assert _text(final["message"]) == expected

        chat = client.events("chat", "flow-1")
        states = [c["state"] for c in chat]
        assert states[0] == "status"
        assert chat[0]["phase"] == "starting_model"
        assert states[-1] == "final"
        deltas = [c for c in chat if c["state"] == "delta"]
        assert deltas, states
        assert "".join(d["deltaText"] for d in deltas) == expected
        assert _text(deltas[-1]["message"]) == expected  # cumulative snapshot
        assert all(isinstance(c["seq"], int) for c in chat)

        lifecycle = [
            a["data"]["phase"]
            for a in client.events("agent", "flow-1")
            if a["stream"] == "lifecycle"
        ]
        assert lifecycle == ["start", "end"]
        assistant = [a for a in client.events("agent", "flow-1") if a["stream"] == "assistant"]
        assert assistant[-1]["data"]["text"] == expected
        # Frame seqs on this connection are contiguous.
        seqs = [f["seq"] for f in client.frames if f.get("type") == "event"]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

        history = await client.ok("chat.history", {"sessionKey": key})
        assert history["sessionKey"] == key
        assert isinstance(history["sessionId"], str)
        assert [(m["role"], _text(m)) for m in history["messages"]] == [
            ("user", "Hello gateway"),
            ("assistant", expected),
        ]
        assert all(isinstance(m["timestamp"], int) for m in history["messages"])

        # The same idempotencyKey again: the same run, no second turn.
        again = await client.ok(
            "chat.send",
            {"sessionKey": key, "message": "Hello gateway", "idempotencyKey": "flow-1"},
        )
        assert again == {"runId": "flow-1", "status": "ok"}
        history = await client.ok("chat.history", {"sessionKey": key})
        assert len(history["messages"]) == 2

        listed = await client.ok("sessions.list", {"includeLastMessage": True})
        row = next(r for r in listed["sessions"] if r["key"] == key)
        assert row["lastMessagePreview"] == expected
        described = await client.ok("sessions.describe", {"key": key})
        assert described["session"]["sessionId"] == history["sessionId"]
    finally:
        await client.close()


def test_a_chat_turn_streams_status_deltas_and_final(gateway: GatewayProcess) -> None:
    asyncio.run(_chat_turn(gateway.port))


async def _agent_two_phase(port: int) -> None:
    client = await Client.open(port)
    try:
        request_id = await client.send(
            "agent",
            {
                "message": "What is 2+2?",
                "agentId": "main",
                "sessionKey": "agent:main:agentflow",
                "deliver": False,
                "timeout": 60,
                "idempotencyKey": "agent-1",
            },
        )
        accepted = await client.res(request_id)
        assert accepted["ok"], accepted
        assert accepted["payload"]["status"] == "accepted"
        assert accepted["payload"]["runId"] == "agent-1"
        assert isinstance(accepted["payload"]["acceptedAt"], int)

        done = await client.res(request_id)  # the second res frame on the same id
        assert done["ok"], done
        payload = done["payload"]
        assert (payload["runId"], payload["status"], payload["summary"]) == (
            "agent-1",
            "ok",
            "completed",
        )
        assert payload["result"]["payloads"][0]["text"] == REPLY_PREFIX + "What is 2+2?"
        assert payload["result"]["meta"]["agentMeta"]["provider"] == "placeholder"

        waited = await client.ok("agent.wait", {"runId": "agent-1", "timeoutMs": 5000})
        assert waited["status"] == "ok"
        assert waited["startedAt"] <= waited["endedAt"]
        unknown = await client.ok("agent.wait", {"runId": "nope", "timeoutMs": 50})
        assert unknown == {"runId": "nope", "status": "timeout"}
    finally:
        await client.close()


def test_agent_answers_twice_on_one_request_id(gateway: GatewayProcess) -> None:
    asyncio.run(_agent_two_phase(gateway.port))


async def _reconnect(port: int) -> None:
    key = "agent:main:reconnect"
    first = await Client.open(port)
    sent = await first.ok(
        "chat.send", {"sessionKey": key, "message": "Are you there?", "idempotencyKey": "rc-1"}
    )
    assert sent["status"] == "started"
    await first.close()  # gone before the reply

    second = await Client.open(port)
    try:
        waited = await second.ok("agent.wait", {"runId": "rc-1", "timeoutMs": 15000})
        assert waited["status"] == "ok"
        history = await second.ok("chat.history", {"sessionKey": key, "limit": 10})
        assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
        assert _text(history["messages"][1]) == REPLY_PREFIX + "Are you there?"
    finally:
        await second.close()


def test_a_client_that_reconnects_after_the_final_reads_it_from_history(
    gateway: GatewayProcess,
) -> None:
    asyncio.run(_reconnect(gateway.port))


async def _errors(port: int) -> None:
    client = await Client.open(port)
    try:
        bad = await client.call(
            "chat.send", {"sessionKey": "agent:x", "message": "hi", "idempotencyKey": "bad-1"}
        )
        assert not bad["ok"]
        assert bad["error"]["code"] == "INVALID_REQUEST"
        assert "malformed session key" in bad["error"]["message"]
        main = await client.call("sessions.delete", {"key": "main"})
        assert not main["ok"]
        assert "sessions.reset" in main["error"]["message"]
        sent = await client.call(
            "send", {"to": "42", "message": "hi", "channel": "telegram", "idempotencyKey": "s1"}
        )
        assert not sent["ok"]
        assert "no enabled telegram account 'default' is configured" in sent["error"]["message"]
    finally:
        await client.close()


def test_bad_requests_get_well_formed_errors(gateway: GatewayProcess) -> None:
    asyncio.run(_errors(gateway.port))


async def _session_methods(port: int) -> None:
    key = "agent:main:admin-flow"
    client = await Client.open(port)
    try:
        assert await client.ok("sessions.subscribe", {}) == {"subscribed": True}
        subscribed = await client.ok("sessions.messages.subscribe", {"key": key})
        assert (subscribed["subscribed"], subscribed["key"]) == (True, key)
        assert subscribed["approvalReplay"]["approvals"] == []
        await client.ok(
            "chat.send", {"sessionKey": key, "message": "first", "idempotencyKey": "adm-1"}
        )
        await client.wait_for(_run_final("adm-1"))
        messages = await client.wait_for(
            lambda f: (
                f.get("event") == "session.message"
                and f["payload"]["message"]["role"] == "assistant"
            )
        )
        assert messages["payload"]["sessionKey"] == key
        changed = client.events("sessions.changed")
        assert {c["sessionKey"] for c in changed} == {key}
        assert "send" in [c.get("reason") for c in changed]

        patched = await client.ok("sessions.patch", {"key": key, "label": "Admin flow"})
        assert (patched["ok"], patched["key"], patched["entry"]["label"]) == (
            True,
            key,
            "Admin flow",
        )
        refused = await client.call("sessions.patch", {"key": key, "verboseLevel": "full"})
        assert not refused["ok"]
        assert "verboseLevel" in refused["error"]["message"]
        resolved = await client.ok("sessions.resolve", {"label": "Admin flow"})
        assert resolved == {"ok": True, "key": key}

        preview = await client.ok("sessions.preview", {"keys": [key, "agent:main:none"]})
        assert [p["status"] for p in preview["previews"]] == ["ok", "missing"]
        assert preview["previews"][0]["items"][-1]["role"] == "assistant"

        old_id = (await client.ok("sessions.describe", {"key": key}))["session"]["sessionId"]
        reset = await client.ok("sessions.reset", {"key": key})
        assert reset["entry"]["sessionId"] != old_id
        assert reset["entry"]["label"] == "Admin flow"
        history = await client.ok("chat.history", {"sessionKey": key})
        assert history["messages"] == []

        assert await client.ok("chat.abort", {"sessionKey": key}) == {
            "ok": True,
            "aborted": False,
            "runIds": [],
        }
        stop = await client.ok(
            "chat.send", {"sessionKey": key, "message": "/stop", "idempotencyKey": "adm-2"}
        )
        assert stop == {"ok": True, "aborted": False, "runIds": []}

        deleted = await client.ok("sessions.delete", {"key": key})
        assert deleted == {"ok": True, "key": key, "deleted": True, "archived": []}
        assert await client.ok("sessions.describe", {"key": key}) == {"session": None}
    finally:
        await client.close()


def test_session_methods_and_their_events(gateway: GatewayProcess) -> None:
    asyncio.run(_session_methods(gateway.port))


@pytest.mark.django_db
def test_send_accepts_into_the_outbox_of_a_configured_account() -> None:
    from channels_app.models import ChannelAccount, OutboundMessage
    from gateway.methods.registry import CallContext
    from gateway.methods.send import SendParams, send

    ChannelAccount.objects.create(kind="telegram", account_id="default")
    ctx = CallContext(
        "c", "operator", frozenset({"operator.write"}), "cli", "cli", None, frozenset()
    )
    params = SendParams.model_validate(
        {"to": "42", "message": "hello", "channel": "telegram", "idempotencyKey": "s-1"}
    )
    answer = send(ctx, params)
    assert answer["runId"] == "s-1"
    assert answer["channel"] == "telegram"
    assert answer["chatId"] == "42"
    assert answer["status"] == "pending"
    assert send(ctx, params)["messageId"] == answer["messageId"]  # idempotent
    assert OutboundMessage.objects.get().text == "hello"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("channel", "error"),
    [
        (None, "send needs an explicit channel, e.g. channel: 'telegram' (this gateway does "),
        ("last", "not track a last-used channel"),
        ("Pigeon", "unknown channel 'pigeon'; known channels: telegram, webchat, "),
    ],
)
def test_send_refuses_a_missing_last_or_unknown_channel(channel: str | None, error: str) -> None:
    from channels_app.models import ChannelAccount, OutboundMessage
    from gateway.methods.registry import CallContext, MethodError
    from gateway.methods.send import SendParams, send

    ChannelAccount.objects.create(kind="telegram", account_id="default")
    ctx = CallContext(
        "c", "operator", frozenset({"operator.write"}), "cli", "cli", None, frozenset()
    )
    params = SendParams.model_validate(
        {"to": "42", "message": "hello", "channel": channel, "idempotencyKey": "s-2"}
    )
    with pytest.raises(MethodError) as refused:
        send(ctx, params)
    assert error in refused.value.message
    assert not OutboundMessage.objects.exists()
