"""``GET /metrics``: who may scrape it, and what it says (names, labels, figures)."""

# factory_boy declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from agents.models import Run, RunStep
from agents.tests.factories import RunFactory, RunStepFactory
from channels_app.models import InboundMessage, OutboundMessage
from channels_app.tests.factories import InboundMessageFactory, OutboundMessageFactory
from core import kombu_memory
from gateway import metrics_collect, scopes
from gateway.lib.tokens import token_hash
from gateway.models import Node
from gateway.ratelimit import auth_rate_limiter
from gateway.tests.factories import GatewayTokenFactory

# The view reads on the shared worker threads (their own connections): rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-token-0123456789abcdefghijklmno"
PAIRING_TOKEN = "metrics-pairing-0123456789abcdefghijkl"
AUTH: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(autouse=True)
def _setup(settings: Any) -> Iterator[None]:
    # Embedded mode also in the PostgreSQL + Redis pass: the queues are this process's
    # memory queues (the Redis broker's are read in test_metrics_rpc_and_redis).
    settings.REDIS_URL = ""
    GatewayTokenFactory(token_hash=token_hash(TOKEN), scopes=[scopes.READ])
    GatewayTokenFactory(token_hash=token_hash(PAIRING_TOKEN), scopes=[scopes.PAIRING])
    auth_rate_limiter.reset()
    metrics_collect.forget()
    yield
    auth_rate_limiter.reset()
    metrics_collect.forget()


def scrape(client: Client, **extra: Any) -> Samples:
    response = client.get("/metrics", **AUTH, **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


# --- who may scrape ---------------------------------------------------------------------
def test_it_needs_the_gateway_token(client: Client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="openclaw"'
    assert b"OPENCLAW_METRICS_PUBLIC" in response.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 401


def test_a_token_without_the_read_scope_is_forbidden(client: Client) -> None:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {PAIRING_TOKEN}")
    assert response.status_code == 403
    assert b"operator.read" in response.content


def test_failed_attempts_are_rate_limited(client: Client) -> None:
    remote: dict[str, Any] = {"REMOTE_ADDR": "203.0.113.7", "HTTP_AUTHORIZATION": "Bearer wrong"}
    statuses = [client.get("/metrics", **remote).status_code for _ in range(12)]
    assert statuses[0] == 401
    assert statuses[-1] == 429


def test_public_metrics_need_no_token(client: Client, settings: Any) -> None:
    settings.METRICS_PUBLIC = True
    assert client.get("/metrics").status_code == 200


def test_only_get_is_allowed(client: Client) -> None:
    assert client.post("/metrics", **AUTH).status_code == 405


def test_it_speaks_openmetrics_when_asked(client: Client) -> None:
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text", **AUTH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


# --- what it says -----------------------------------------------------------------------
def test_http_requests_are_observed_by_route_method_and_status_class(client: Client) -> None:
    health = {"route": "health", "method": "GET", "status": "2xx"}
    before = scrape(client).get(
        ("openclaw_http_request_duration_seconds_count", frozenset(health.items())), 0.0
    )
    assert client.get("/health").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)
    count = value(after, "openclaw_http_request_duration_seconds_count", **health)
    assert count == before + 1
    inf = value(after, "openclaw_http_request_duration_seconds_bucket", **health, le="+Inf")
    assert inf == count
    # The catch-all route (webhooks, the Control UI's files) answered the unknown path
    # (the histogram is per process: earlier requests of this run are in it too).
    not_found = {
        dict(labels)["route"]
        for name, labels in after
        if name == "openclaw_http_request_duration_seconds_count"
        and dict(labels)["status"] == "4xx"
    }
    assert "control-ui" in not_found


def test_runs_messages_provider_errors_and_nodes_are_counted(client: Client) -> None:
    RunFactory(status=Run.Status.SUCCEEDED)
    RunFactory(status=Run.Status.SUCCEEDED)
    failed = RunFactory(status=Run.Status.FAILED, error_kind="rate_limit")
    RunStepFactory(
        run=failed,
        status=RunStep.Status.FAILED,
        output={"reason": "rate_limit", "status": 429},
        error="rate_limit: slow down",
    )
    # A model call interrupted by a worker restart is no provider error.
    RunStepFactory(run=failed, status=RunStep.Status.FAILED, output={})
    InboundMessageFactory(status=InboundMessage.Status.PROCESSED)
    OutboundMessageFactory(status=OutboundMessage.Status.FAILED)
    OutboundMessageFactory(status=OutboundMessage.Status.SENT)
    now = timezone.now()
    Node.objects.create(node_id="worker-a", last_heartbeat_at=now)
    Node.objects.create(node_id="worker-b", last_heartbeat_at=now - timedelta(hours=1))

    samples = scrape(client)
    assert value(samples, "openclaw_runs", state="succeeded") == 2
    assert value(samples, "openclaw_runs", state="failed") == 1
    assert value(samples, "openclaw_runs", state="queued") == 0  # every state, also empty
    assert value(samples, "openclaw_provider_errors", reason="rate_limit") == 1
    assert value(samples, "openclaw_provider_errors", reason="auth") == 0
    assert value(samples, "openclaw_inbound_messages", status="processed") == 1
    assert value(samples, "openclaw_inbound_messages", status="failed") == 0
    assert value(samples, "openclaw_outbound_messages", status="failed") == 1
    assert value(samples, "openclaw_outbound_messages", status="sent") == 1
    assert value(samples, "openclaw_nodes") == 2
    assert value(samples, "openclaw_nodes_online") == 1
    assert value(samples, "openclaw_provider_profiles_cooling_down") == 0
    assert value(samples, "openclaw_cluster_source_up", source="database") == 1
    assert ("openclaw_cluster_source_up", frozenset({("source", "redis")})) not in samples
    assert value(samples, "openclaw_websocket_connections") == 0
    assert value(samples, "process_resident_memory_bytes") > 0


def test_embedded_queue_depth_is_the_memory_queues(client: Client) -> None:
    # Nothing consumes in tests: what earlier tests sent on commit is still queued.
    for name in metrics_collect.queue_names():
        kombu_memory.purge(name)
    kombu_memory.put("llm", {"body": "one"})
    kombu_memory.put("llm", {"body": "two"})
    try:
        samples = scrape(client)
    finally:
        kombu_memory.purge("llm")
    assert value(samples, "openclaw_queue_depth", queue="llm") == 2
    assert value(samples, "openclaw_queue_depth", queue="default") == 0
    assert value(samples, "openclaw_queue_depth", queue="connectors") == 0


def test_cluster_figures_are_read_once_per_few_seconds(
    client: Client, django_assert_num_queries: Any
) -> None:
    RunFactory(status=Run.Status.QUEUED)
    first = metrics_collect.ClusterCollector()
    assert list(first.collect())  # reads the database
    RunFactory(status=Run.Status.QUEUED)
    with django_assert_num_queries(0):
        families = {f.name: f for f in metrics_collect.ClusterCollector().collect()}
    runs = {s.labels["state"]: s.value for s in families["openclaw_runs"].samples}
    assert runs["queued"] == 1  # the cached read, until it expires
    metrics_collect.forget()
    assert value(scrape(client), "openclaw_runs", state="queued") == 2


def test_an_unreadable_database_leaves_out_its_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("database is down")

    monkeypatch.setattr(metrics_collect, "database_figures", broken)
    families = {f.name: f for f in metrics_collect.ClusterCollector().collect()}
    up = {s.labels["source"]: s.value for s in families["openclaw_cluster_source_up"].samples}
    assert up == {"database": 0}
    assert "openclaw_runs" not in families
    assert "openclaw_queue_depth" in families  # the broker was read all the same
