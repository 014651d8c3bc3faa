"""RPC latency by method and outcome; queue depth and the Redis source in team mode."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu.transport import redis as kombu_redis

from gateway import metrics, metrics_collect
from gateway.calls import answer_frames
from gateway.methods.registry import CallContext, Method, MethodError, NoParams
from tests.gateway_process import free_port as closed_port

CTX = CallContext(
    conn_id="c1",
    role="operator",
    scopes=frozenset({"operator.read"}),
    client_id="test",
    client_mode="cli",
    device_id=None,
    caps=frozenset(),
)


def _count(method: str, outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "openclaw_rpc_duration_seconds_count", {"method": method, "outcome": outcome}
    )
    return value or 0.0


async def _answer(ctx: CallContext, params: Any) -> dict[str, Any]:
    return {"ok": True}


async def _refuse(ctx: CallContext, params: Any) -> dict[str, Any]:
    raise MethodError("no")


async def _crash(ctx: CallContext, params: Any) -> dict[str, Any]:
    raise RuntimeError("boom")


def _frames(method: Method) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [f async for f in answer_frames("r1", method, CTX, NoParams())]

    return asyncio.run(collect())


@pytest.mark.parametrize(
    ("handler", "outcome", "ok"),
    [(_answer, "ok", True), (_refuse, "error", False), (_crash, "error", False)],
)
def test_each_rpc_is_observed_once_by_method_and_outcome(
    handler: Any, outcome: str, ok: bool
) -> None:
    name = f"test.{handler.__name__}"
    method = Method(
        name=name, handler=handler, scope="operator.read", params=NoParams, is_async=True
    )
    frames = _frames(method)
    assert [f["ok"] for f in frames] == [ok]
    assert _count(name, outcome) == 1
    assert _count(name, "ok" if outcome == "error" else "error") == 0


def test_the_kombu_priority_layout_is_the_one_read() -> None:
    assert kombu_redis.Channel.sep == metrics_collect.KOMBU_PRIORITY_SEP
    assert tuple(kombu_redis.PRIORITY_STEPS) == (0, *metrics_collect.KOMBU_PRIORITY_STEPS)


# --- team mode: the Redis broker --------------------------------------------------------
@pytest.fixture
def own_queue(settings: Any) -> str:
    """A queue name no other test or worker uses, as the only routed queue."""
    name = f"metrics-test-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = name
    settings.CELERY_TASK_ROUTES = {}
    return name


@pytest.fixture
def redis_client(services: dict[str, str], settings: Any) -> Iterator[Any]:
    import redis

    settings.REDIS_URL = services["REDIS_URL"]
    client = redis.Redis.from_url(services["REDIS_URL"])
    yield client
    client.close()


@pytest.mark.services
def test_team_queue_depth_is_llen_on_the_broker_keys(
    redis_client: Any, own_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_collect, "database_figures", dict)
    keys = [own_queue, f"{own_queue}{metrics_collect.KOMBU_PRIORITY_SEP}6"]
    try:
        redis_client.lpush(keys[0], "a", "b")
        redis_client.lpush(keys[1], "c")
        figures = metrics_collect.cluster_figures()
    finally:
        redis_client.delete(*keys)
    assert figures.redis_up is True
    assert figures.queues == {own_queue: 3}


def test_unreachable_redis_is_reported_not_raised(
    settings: Any, own_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_collect, "database_figures", dict)
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    figures = metrics_collect.cluster_figures()
    assert figures.redis_up is False
    assert figures.database_up is True
    assert figures.queues == {}
