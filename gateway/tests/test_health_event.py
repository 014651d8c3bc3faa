"""The ``health`` event as OpenClaw sends it: broadcast with ``stateVersion`` whenever the
cached summary is refreshed, after a connect and every ``GATEWAY_HEALTH_REFRESH_S``.

Each connection gets what its scopes allow (session keys only from ``operator.read``
up). The timer is one per process and runs only while a client is connected; in team
mode each process refreshes for its own sockets (the event never crosses the layer).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest import mock

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from gateway import bus, state
from gateway import scopes as gw_scopes
from gateway.ratelimit import auth_rate_limiter
from gateway.services import gateway_token_create
from sessions_app.models import Session
from tests.openclaw_client import InProcessClient, release_worker_db_connections

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

TOKEN = "health-event-token-" + "0123456789abcdef" * 2
SESSION_KEY = "agent:main:telegram:direct:4242"


@pytest.fixture(autouse=True)
def _clean(settings: Any) -> Iterator[None]:
    settings.GATEWAY_AUTH_MODE = "token"
    # By default: a refresh after every connect, and no periodic one within a test.
    settings.GATEWAY_HEALTH_REFRESH_S = 3600
    settings.GATEWAY_HEALTH_CONNECT_REFRESH_S = 0
    auth_rate_limiter.reset()
    state.health_reset()
    state.presence.clear()
    yield
    state.health_reset()
    state.presence.clear()


@pytest_asyncio.fixture(autouse=True)
async def door(transactional_db: None) -> AsyncIterator[None]:
    await sync_to_async(gateway_token_create)(name="admin", token=TOKEN)
    yield
    await release_worker_db_connections()


async def _client(scopes: list[str]) -> InProcessClient:
    client = InProcessClient()
    await client.open()
    res = await client.connect(token=TOKEN, scopes=scopes)
    assert res["ok"], res
    return client


def _version(event: dict[str, Any]) -> int:
    assert set(event["stateVersion"]) == {"presence", "health"}, event
    version: int = event["stateVersion"]["health"]
    return version


async def test_a_connect_refreshes_and_every_client_hears_it() -> None:
    first = await _client([gw_scopes.READ])
    try:
        own = await first.wait_event("health")  # the refresh after its own connect
        second = await _client([gw_scopes.READ])
        try:
            heard = await first.wait_event("health")
            assert _version(heard) > _version(own)
            assert heard["payload"]["ok"] is True
            assert {"ts", "durationMs", "sessions", "agents"} <= set(heard["payload"])
            assert _version(await second.wait_event("health")) == _version(heard)
            assert heard["seq"] > own["seq"]
        finally:
            await second.close()
    finally:
        await first.close()


async def test_the_summary_is_refreshed_and_broadcast_every_interval(settings: Any) -> None:
    settings.GATEWAY_HEALTH_CONNECT_REFRESH_S = 3600  # only the timer refreshes
    settings.GATEWAY_HEALTH_REFRESH_S = 0.2
    client = await _client([gw_scopes.READ])
    try:
        versions = [_version(await client.wait_event("health")) for _ in range(3)]
        assert versions == sorted(set(versions)), versions
        assert versions[-1] >= versions[0] + 2
    finally:
        await client.close()


async def test_connect_refreshes_are_admitted_once_per_window(settings: Any) -> None:
    """OpenClaw's admission: a burst of connects costs one refresh, not one each."""
    settings.GATEWAY_HEALTH_CONNECT_REFRESH_S = 3600
    first = await _client([gw_scopes.READ])
    try:
        refreshed = await first.wait_event("health")
        second = await _client([gw_scopes.READ])
        try:
            cached = await second.wait_event("health")  # the cached summary, to it alone
            assert _version(cached) == _version(refreshed)
            assert await first.quiet(0.3)
        finally:
            await second.close()
    finally:
        await first.close()


async def test_a_connection_without_read_scope_gets_the_redacted_summary() -> None:
    await sync_to_async(Session.objects.create)(key=SESSION_KEY, agent_slug="main")
    reader = await _client([gw_scopes.READ])
    try:
        await reader.wait_event("health")
        scopeless = await _client([])
        try:
            seen = await scopeless.wait_event("health")
            full = await reader.wait_event("health")
        finally:
            await scopeless.close()
    finally:
        await reader.close()
    assert _version(seen) == _version(full)
    assert SESSION_KEY in str(full["payload"])
    assert "4242" not in str(seen["payload"])
    assert seen["payload"]["sessions"]["count"] == full["payload"]["sessions"]["count"] == 1
    assert seen["payload"]["sessions"]["recent"] == []


async def test_the_timer_stops_when_the_last_client_leaves(settings: Any) -> None:
    settings.GATEWAY_HEALTH_REFRESH_S = 0.05
    client = await _client([gw_scopes.READ])
    await client.wait_event("health")
    await client.close()
    for _ in range(100):
        if state._ticker is None or state._ticker.done():
            break
        await asyncio.sleep(0.02)
    assert state._ticker is not None
    assert state._ticker.done()  # idle: no timer left in the process


async def test_each_process_broadcasts_its_own_health_never_through_the_layer(
    settings: Any,
) -> None:
    """Team mode: the event goes to this process's sockets only, never to Redis."""
    heard: list[dict[str, Any]] = []

    class Listener:
        def deliver_event(self, event: dict[str, Any]) -> None:
            heard.append(event)

    listener = Listener()
    bus.attach(listener)
    try:
        settings.REDIS_URL = "redis://team.invalid:6379/0"
        with mock.patch.object(bus, "_publish_layer") as layer:
            summary = await state.health_get(force=True)
        layer.assert_not_called()
    finally:
        bus.detach(listener)
    assert [e["event"] for e in heard] == ["health"]
    assert heard[0]["payload"] is summary
