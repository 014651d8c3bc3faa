"""Telegram end to end: a real gateway process, the real python-telegram-bot client, a
fake Telegram Bot API (tests/fakes/telegram_server.py) and the fake OpenAI server.

Everything an operator does goes through ``manage.py`` (config, pairing), everything a
user does through the fake Bot API (an update pushed, a message received).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.llm_server import FakeServerProcess
from tests.fakes.telegram_server import FakeTelegramServer
from tests.gateway_process import GatewayProcess, run_manage
from tests.telegram_harness import (
    TOKEN,
    configure,
    gateway_env,
    start,
    telegram_setup,
    texts_to,
    wait_until,
)

pytestmark = pytest.mark.process


# --- pairing end to end ------------------------------------------------------------------
def test_an_unknown_sender_pairs_then_is_answered(
    tmp_path: Path,
    llm: FakeServerProcess,
    tg: FakeTelegramServer,
    gateways: list[GatewayProcess],
) -> None:
    env = gateway_env(tmp_path / "data", llm)
    telegram_setup(env, tg)
    start(gateways, env)

    tg.push_message(TOKEN, chat_id=111, from_id=111, text="hello?", from_name="Stranger")
    code_message = wait_until(
        "the pairing code", lambda: [t for t in texts_to(tg, 111) if "Pairing code:" in t]
    )[0]
    match = re.search(r"Pairing code: ([A-Z2-9]{8})", code_message)
    assert match, code_message
    assert "111" in code_message
    assert f"openclaw pairing approve telegram {match.group(1)}" in code_message

    wrong = run_manage("pairing", "approve", "telegram", "AAAAAAAA", env=env)
    assert wrong.returncode != 0
    assert "AAAAAAAA" in wrong.stderr

    approved = run_manage("pairing", "approve", "telegram", match.group(1), env=env)
    assert approved.returncode == 0, approved.stderr
    wait_until("the approval notice", lambda: len(texts_to(tg, 111)) >= 2)

    tg.push_message(TOKEN, chat_id=111, from_id=111, text="now answer me")
    wait_until("the answer", lambda: "echo: now answer me" in texts_to(tg, 111))
    sent = texts_to(tg, 111)
    # The first message was kept but never answered by the model.
    assert not any(t.startswith("echo: hello") for t in sent), sent
    assert sum(t == "echo: now answer me" for t in sent) == 1


# --- the same update twice, and a sendMessage that fails -----------------------------------
def test_a_redelivered_update_gets_one_reply_and_failed_sends_are_retried_once(
    tmp_path: Path,
    llm: FakeServerProcess,
    tg: FakeTelegramServer,
    gateways: list[GatewayProcess],
) -> None:
    env = gateway_env(tmp_path / "data", llm)
    telegram_setup(env, tg, ("channels.telegram.allowFrom", '["222"]'))
    tg.fail("sendMessage", 429, count=3, retry_after=1)
    start(gateways, env)

    update = tg.push_message(TOKEN, chat_id=222, from_id=222, text="twice")
    tg.push_update(TOKEN, update)  # Telegram redelivers the same update_id
    wait_until("the reply", lambda: "echo: twice" in texts_to(tg, 222))
    tg.fail("sendMessage", 500, count=1)
    tg.push_message(TOKEN, chat_id=222, from_id=222, text="after a 500")
    wait_until("the second reply", lambda: "echo: after a 500" in texts_to(tg, 222))
    time.sleep(1.0)  # any duplicate would have been sent by now
    assert texts_to(tg, 222) == ["echo: twice", "echo: after a 500"]


# --- bad input -------------------------------------------------------------------------------
def test_a_rejected_token_marks_the_account_failed_and_the_gateway_keeps_running(
    tmp_path: Path,
    llm: FakeServerProcess,
    tg: FakeTelegramServer,
    gateways: list[GatewayProcess],
) -> None:
    env = gateway_env(tmp_path / "data", llm)
    configure(
        env,
        ("channels.telegram.botToken", "999999:AAH-not-a-token-the-fake-knows-0123456"),
        ("channels.telegram.apiRoot", tg.root_url),
    )
    gw = start(gateways, env)

    def failed() -> dict[str, Any] | None:
        result = run_manage("channels", "status", "--json", env=env)
        assert result.returncode == 0, result.stderr
        account = json.loads(result.stdout)["channelAccounts"]["telegram"][0]
        return account if account["state"] == "failed" else None

    account = wait_until("the account to be marked failed", failed)
    assert "rejected" in account["lastError"].lower()
    assert "999999:" not in account["lastError"]  # never the token
    status, body = gw.get("/health")
    assert status == 200, body
