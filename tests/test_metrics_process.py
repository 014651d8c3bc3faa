"""``/metrics``, request ids and JSON logs of a live ``manage.py gateway`` after a chat turn.

One embedded gateway with ``LOG_FORMAT=json`` talks to the fake OpenAI server; a real
WebSocket client runs a turn, then Prometheus' view of it is scraped over HTTP while the
client is still connected.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway_process import GatewayProcess, child_env
from tests.openclaw_client import OpenClawClient

pytestmark = pytest.mark.process

TOKEN = "metrics-gateway-token-0123456789abcdef"
SCOPES = ["operator.read", "operator.write"]
API_KEY = "sk-test-metrics-0123456789abcdef"
RUN_ID = "metrics-run-1"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def gateway(tmp_path: Path, fake: FakeOpenAIServer) -> Iterator[GatewayProcess]:
    data = tmp_path / "data"
    env = child_env(
        data,
        OPENCLAW_GATEWAY_TOKEN=TOKEN,
        OPENCLAW_MODEL="openai/gpt-4o-mini",
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=fake.base_url,
        LOG_FORMAT="json",
    )
    gw = GatewayProcess(env).start()
    try:
        yield gw
    finally:
        if gw.proc is not None and gw.proc.poll() is None:
            gw.stop()
        assert "Traceback" not in gw.stderr, gw.stderr


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def _get(gw: GatewayProcess, path: str, **headers: str) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(gw.url + path, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, _lower(response.headers.items()), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, _lower(exc.headers.items()), exc.read().decode()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _turn_then_scrape(gw: GatewayProcess) -> str:
    client = OpenClawClient(f"ws://127.0.0.1:{gw.port}/")
    await client.open()
    try:
        hello = await client.connect(token=TOKEN, scopes=SCOPES)
        assert hello["ok"], hello
        sent = await client.call(
            "chat.send", {"sessionKey": "main", "message": "hello", "idempotencyKey": RUN_ID}
        )
        assert sent["ok"], sent

        async def final() -> dict[str, Any]:
            while True:
                for event in client.events:
                    payload = event.get("payload") or {}
                    if event.get("event") == "chat" and payload.get("state") == "final":
                        return payload
                await asyncio.sleep(0.02)

        assert (await asyncio.wait_for(final(), 20))["runId"] == RUN_ID
        # Scraped while the client is connected (urllib blocks: off the loop).
        status, _headers, body = await asyncio.to_thread(
            _get, gw, "/metrics", Authorization=f"Bearer {TOKEN}"
        )
        assert status == 200, body
        return body
    finally:
        await client.close()


def test_metrics_request_ids_and_json_logs_after_a_chat_turn(gateway: GatewayProcess) -> None:
    status, headers, _body = _get(
        gateway, "/metrics", Authorization="Bearer wrong-token", **{"X-Request-ID": "scrape-7"}
    )
    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="openclaw"'
    assert headers["x-request-id"] == "scrape-7"

    samples = _samples(asyncio.run(_turn_then_scrape(gateway)))

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    assert value("openclaw_rpc_duration_seconds_count", method="chat.send", outcome="ok") == 1
    assert value("openclaw_runs", state="succeeded") == 1
    assert value("openclaw_runs", state="queued") == 0
    assert value("openclaw_websocket_connections") == 1
    health = {"route": "health", "method": "GET", "status": "2xx"}
    assert value("openclaw_http_request_duration_seconds_count", **health) >= 1
    refused = {"route": "metrics", "method": "GET", "status": "4xx"}
    assert value("openclaw_http_request_duration_seconds_count", **refused) == 1
    for queue in ("default", "llm", "connectors"):
        assert value("openclaw_queue_depth", queue=queue) >= 0
    assert value("openclaw_cluster_source_up", source="database") == 1
    assert value("openclaw_nodes_online") >= 0
    assert value("process_resident_memory_bytes") > 0

    # The JSON lines: the refused scrape's carries its request id, the run's end its ids.
    gateway.stop()
    records = [json.loads(line) for line in gateway.stderr.splitlines() if line.startswith("{")]
    assert records, gateway.stderr
    auth = [r for r in records if r["logger"] == "gateway.http.auth"]
    assert [r["requestId"] for r in auth] == ["scrape-7"]
    ended = [r for r in records if r.get("runId") == RUN_ID and "succeeded" in r["msg"]]
    assert len(ended) == 1, records
    assert ended[0]["sessionKey"] == "agent:main:main"
