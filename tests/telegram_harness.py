"""Shared parts of the Telegram process tests: a gateway configured for the fake Bot API.

Fixtures (``llm``, ``tg``, ``gateways``) live in tests/conftest.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.fakes.llm_server import FakeServerProcess
from tests.fakes.telegram_server import FakeTelegramServer
from tests.gateway_process import GatewayProcess, child_env, run_manage

TOKEN = "123456789:AAH-telegram-test-token-0123456789abcdef"
GATEWAY_TOKEN = "tg-e2e-token-0123456789abcdefghijklmnop"
WAIT_S = 30.0
T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T | None], within: float = WAIT_S) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {within:g}s waiting for {what}")


def gateway_env(data: Path, llm: FakeServerProcess, **extra: str) -> dict[str, str]:
    env = child_env(
        data,
        OPENCLAW_GATEWAY_TOKEN=GATEWAY_TOKEN,
        OPENCLAW_MODEL="openai/gpt-4o-mini",
        OPENCLAW_MODEL_FALLBACKS="",
        OPENAI_BASE_URL=llm.base_url,
        OPENAI_API_KEY="sk-test-telegram-0123456789",
        OPENCLAW_CHANNEL_RETRY_BASE_MS="100",
        **extra,
    )
    env.pop("ANTHROPIC_API_KEY", None)
    env.pop("ANTHROPIC_BASE_URL", None)
    return env


def configure(env: dict[str, str], *settings: tuple[str, str]) -> None:
    for path, value in settings:
        result = run_manage("config", "set", path, value, env=env)
        assert result.returncode == 0, (path, result.stdout, result.stderr)


def telegram_setup(env: dict[str, str], tg: FakeTelegramServer, *extra: tuple[str, str]) -> None:
    configure(
        env,
        ("channels.telegram.botToken", TOKEN),
        ("channels.telegram.apiRoot", tg.root_url),
        ("session.dmScope", "per-channel-peer"),
        *extra,
    )


def texts_to(tg: FakeTelegramServer, chat_id: int) -> list[str]:
    return [m["text"] for m in tg.sent_messages(TOKEN, chat_id=chat_id)]


def start(gateways: list[GatewayProcess], env: dict[str, str]) -> GatewayProcess:
    gw = GatewayProcess(env)
    gateways.append(gw)
    return gw.start()
