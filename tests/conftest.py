"""Fixtures of the process tests that drive a gateway through fake platforms."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.llm_server import FakeServerProcess
from tests.fakes.telegram_server import FakeTelegramServer
from tests.gateway_process import GatewayProcess
from tests.telegram_harness import TOKEN


@pytest.fixture
def llm() -> Iterator[FakeServerProcess]:
    """The fake OpenAI server in its own process (answers ``echo: <text>``)."""
    with FakeServerProcess("openai") as server:
        yield server


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    """The fake Telegram Bot API in this process, with the test bot registered."""
    with FakeTelegramServer() as server:
        server.add_bot(TOKEN, username="testbot")
        yield server


@pytest.fixture
def gateways() -> Iterator[list[GatewayProcess]]:
    """Gateways a test starts; whatever still runs at the end is stopped."""
    started: list[GatewayProcess] = []
    yield started
    for gw in started:
        if gw.proc is not None and gw.proc.poll() is None:
            gw.stop()
