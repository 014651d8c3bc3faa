"""Cutting a provider request from another thread (``providers._interrupt``), real SDKs.

The run watchdog stops a run whose provider stalls: before the response headers (the
provider sits on the request) or mid-body (it stops sending). Closing the SDK stream or
its httpx response from another thread does not wake a thread blocked in ``recv``; the
tracked network backend shuts the socket down, which does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agents.providers import (
    AuthProfile,
    ChatMessage,
    ModelRequest,
    ProviderError,
    StreamEvent,
    TextDelta,
    _interrupt,
    provider_client,
)
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.llm_server import FakeLLMServer, Hang, Step, Text
from tests.fakes.openai_server import FakeOpenAIServer

APIS = {
    "openai-chat": FakeOpenAIServer,
    "openai-responses": FakeOpenAIServer,
    "anthropic-messages": FakeAnthropicServer,
}
REQUEST = ModelRequest(model="m", system="", messages=[ChatMessage(role="user", text="hi")])
STALLS: dict[str, Step] = {
    "before the headers": Hang(60),
    "mid-body": Text("first second", chunks=2, delay_s=60),
}


@pytest.fixture(params=sorted(APIS))
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(api: str) -> Iterator[FakeLLMServer]:
    with APIS[api]() as fake:
        yield fake


def _client(api: str, server: FakeLLMServer) -> Any:
    provider = "anthropic" if api.startswith("anthropic") else "openai"
    profile = AuthProfile(
        id=f"{provider}:interrupt-test",
        provider=provider,
        api=api,
        api_key="sk-interrupt-test-0123456789",
        base_url=server.base_url,
    )
    return provider_client(profile, timeout_s=60)


class _Streamer(threading.Thread):
    """Streams one request on its own thread, as a worker thread does."""

    def __init__(self, client: Any) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.events: list[StreamEvent] = []
        self.error: ProviderError | None = None
        self.started_reading = threading.Event()

    def run(self) -> None:
        try:
            for event in self.client.stream(REQUEST):
                self.events.append(event)
                if isinstance(event, TextDelta):
                    self.started_reading.set()
        except ProviderError as exc:
            self.error = exc
        finally:
            _interrupt.clear(threading.get_ident())


@pytest.mark.parametrize("stall", sorted(STALLS))
def test_another_thread_cuts_a_stalled_request_at_once(
    api: str, server: FakeLLMServer, stall: str
) -> None:
    client = _client(api, server)
    # A first request leaves a kept-alive connection in the pool: the stalled request
    # reuses it, as in a real turn.
    server.script(Text("warm"), STALLS[stall])
    assert list(client.stream(REQUEST))
    streamer = _Streamer(client)
    streamer.start()
    deadline = time.monotonic() + 5
    while len(server.requests) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    if stall == "mid-body":
        assert streamer.started_reading.wait(5)
    time.sleep(0.2)  # blocked in recv now
    assert streamer.ident is not None

    began = time.monotonic()
    assert _interrupt.interrupt(streamer.ident) is True
    streamer.join(2)

    assert not streamer.is_alive()
    assert time.monotonic() - began < 0.5
    assert streamer.error is not None
    # Not the key's fault: failover neither cools it down nor moves on because of it.
    assert streamer.error.reason == "interrupted"
    assert not streamer.error.retriable
    # The pool is usable afterwards: the cut connection is dropped, not reused.
    server.script(Text("after"))
    assert [e.text for e in client.stream(REQUEST) if isinstance(e, TextDelta)] == ["after"]


def test_a_thread_marked_before_it_reads_fails_at_once(api: str, server: FakeLLMServer) -> None:
    """The watchdog may stop a run between two reads: the next read must not block."""
    client = _client(api, server)
    assert list(client.stream(REQUEST))
    tid = threading.get_ident()
    _interrupt.interrupt(tid)
    try:
        began = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            list(client.stream(REQUEST))
        assert time.monotonic() - began < 0.5
        assert caught.value.reason == "interrupted"
    finally:
        _interrupt.clear(tid)
    assert len(server.requests) == 1  # the cut request never went out
    assert list(client.stream(REQUEST))  # cleared: requests work again


def test_both_sdk_clients_get_the_tracked_backend(api: str, server: FakeLLMServer) -> None:
    """Guards the private attributes this relies on: an SDK upgrade must not drop it."""
    sdk = _client(api, server)
    from agents.providers import anthropic as anthropic_adapter
    from agents.providers.openai import base as openai_adapter

    client_for: Any = (
        anthropic_adapter._client if api.startswith("anthropic") else openai_adapter.client_for
    )
    http = client_for(sdk.profile, 60)._client
    assert _interrupt.make_interruptible(http) is True
    assert isinstance(http._transport._pool._network_backend, _interrupt.TrackedBackend)


def test_interrupting_an_idle_thread_cuts_nothing() -> None:
    idle = threading.Thread(target=time.sleep, args=(0.1,))
    idle.start()
    assert idle.ident is not None
    try:
        assert _interrupt.interrupt(idle.ident) is False
        assert _interrupt.interrupted(idle.ident)
    finally:
        _interrupt.clear(idle.ident)
        idle.join()
    assert not _interrupt.interrupted(idle.ident)
