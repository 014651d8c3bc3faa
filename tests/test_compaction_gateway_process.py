"""No slow work at the door: a ``sessions.compact`` waiting on a slow model does not delay
other sockets of the same gateway process.

A live ``manage.py gateway`` (its embedded worker) talks to ``tests.fakes.openai_server``
in this test process. The fake holds the summary request until the test releases it, so
the compaction is provably in flight while a second socket calls ``health`` (with
``probe: true``, which makes a database hop) and ``sessions.list`` (a sync handler on
the shared database thread). Both must answer before the compaction does; then the
compaction answers once, with OpenClaw's ``{ok, key, compacted, ...}``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.llm_server import RecordedRequest, Step, Text
from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway_process import GatewayProcess, child_env
from tests.openclaw_client import OpenClawClient

pytestmark = pytest.mark.process

TOKEN = "compaction-gateway-token-0123456789abcdef"
SCOPES = ["operator.read", "operator.write", "operator.admin"]
API_KEY = "sk-test-compaction-0123456789abcdef"
SUMMARY = "SUMMARY: three questions were asked"
WAIT_S = 30.0


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAIServer
) -> Iterator[GatewayProcess]:
    data: Path = tmp_path_factory.mktemp("compaction-gw") / "data"
    env = child_env(
        data,
        OPENCLAW_GATEWAY_TOKEN=TOKEN,
        OPENCLAW_MODEL="openai/gpt-4o-mini",
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=fake.base_url,
        OPENCLAW_COMPACTION_KEEP_RECENT_TOKENS="60",
    )
    gw = GatewayProcess(env).start()
    try:
        yield gw
    finally:
        gw.stop()
        assert "Traceback" not in gw.stderr, gw.stderr
        assert API_KEY not in gw.stdout + gw.stderr


class HeldSummary:
    """A fake-model responder that holds each request until ``release()``."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.held = threading.Event()

    def __call__(self, request: RecordedRequest) -> Step:
        self.held.set()
        self.released.wait(WAIT_S)
        return Text(SUMMARY, chunks=2)

    def release(self) -> None:
        self.released.set()


async def _client(port: int) -> OpenClawClient:
    client = OpenClawClient(f"ws://127.0.0.1:{port}/", timeout=WAIT_S)
    await client.open()
    hello = await client.connect(token=TOKEN, scopes=SCOPES)
    assert hello["ok"], hello
    return client


async def _turn(client: OpenClawClient, text: str, run_id: str) -> None:
    sent = await client.call(
        "chat.send", {"sessionKey": "main", "message": text, "idempotencyKey": run_id}
    )
    assert sent["ok"], sent

    async def final() -> dict[str, Any]:
        while True:
            for event in client.events:
                payload = event.get("payload") or {}
                if (
                    event.get("event") == "chat"
                    and payload.get("runId") == run_id
                    and payload.get("state") in ("final", "error", "aborted")
                ):
                    return payload
            await asyncio.sleep(0.02)

    payload = await asyncio.wait_for(final(), WAIT_S)
    assert payload["state"] == "final", payload


def test_a_compaction_on_a_slow_model_does_not_delay_health_on_another_socket(
    gateway: GatewayProcess, fake: FakeOpenAIServer
) -> None:
    held = HeldSummary()

    async def scenario() -> None:
        compactor = await _client(gateway.port)
        other = await _client(gateway.port)
        try:
            for i in range(3):
                await _turn(compactor, f"question {i} " + "words " * 40, f"compact-turn-{i}")
            fake.default_responder = held  # the next model request: the summary, held

            compact_id = await compactor.send_request("sessions.compact", {"key": "main"})
            reached = await asyncio.to_thread(held.held.wait, WAIT_S)
            assert reached, "the summary request never reached the model"

            # The compaction is in flight (its model call is held): other work goes on.
            health = await other.call("health", {"probe": True})
            assert health["ok"], health
            listed = await other.call("sessions.list", {})
            assert listed["ok"], listed
            assert compactor.responses(compact_id) == [], "answered before the model did"
            assert not held.released.is_set()

            held.release()
            answer = await compactor.response(compact_id)
            assert answer["ok"], answer
            payload = answer["payload"]
            assert (payload["ok"], payload["key"], payload["compacted"]) == (
                True,
                "agent:main:main",
                True,
            )
            assert payload["summarized"] >= 2

            # One answer only; the worker's internal reply reached no socket.
            assert (await compactor.call("health", {}))["ok"]
            assert len(compactor.responses(compact_id)) == 1
            for client in (compactor, other):
                assert not [e for e in client.events if e.get("event") == "session.compaction"]
            history = await compactor.call("chat.history", {"sessionKey": "main"})
            roles = [m["role"] for m in history["payload"]["messages"]]
            assert roles.count("compaction") == 1
        finally:
            held.release()
            await compactor.close()
            await other.close()

    try:
        asyncio.run(scenario())
    finally:
        fake.default_responder = fake.echo_responder
    summary_request = json.dumps(fake.requests[-1].body)
    assert "question 0" in summary_request
