"""Nothing accepted from a chat is lost or answered twice across SIGKILL.

A real gateway process (embedded mode: it is also the worker) polls the fake Telegram
Bot API. It is killed with SIGKILL twice: while the model is answering (runs in flight,
updates confirmed, replies not queued yet), and while replies are going out (sends in
flight). Each time a new gateway on the same data dir takes over; in the end every
message has exactly one reply.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeServerProcess, Hang
from tests.fakes.telegram_server import FakeTelegramServer
from tests.gateway_process import GatewayProcess
from tests.telegram_harness import TOKEN, gateway_env, telegram_setup, wait_until

pytestmark = pytest.mark.process

USERS = 10


def kill(gw: GatewayProcess) -> None:
    assert gw.proc is not None
    os.kill(gw.proc.pid, signal.SIGKILL)
    gw.proc.wait(timeout=10)
    assert gw.proc.returncode == -signal.SIGKILL
    gw.stop()


def replies(tg: FakeTelegramServer) -> Counter[tuple[int, str]]:
    return Counter((int(m["chat_id"]), m["text"]) for m in tg.sent_messages(TOKEN))


def expected(round_no: int) -> Counter[tuple[int, str]]:
    return Counter((1000 + u, f"echo: round {round_no} from {u}") for u in range(USERS))


def push_round(tg: FakeTelegramServer, round_no: int) -> None:
    for u in range(USERS):
        tg.push_message(
            TOKEN, chat_id=1000 + u, from_id=1000 + u, text=f"round {round_no} from {u}"
        )


def test_sigkill_mid_run_and_mid_send_loses_and_duplicates_nothing(
    tmp_path: Path,
    llm: FakeServerProcess,
    tg: FakeTelegramServer,
    gateways: list[GatewayProcess],
) -> None:
    env = gateway_env(tmp_path / "data", llm)
    telegram_setup(
        env,
        tg,
        ("channels.telegram.allowFrom", '["*"]'),
        ("channels.telegram.dmPolicy", "open"),
    )

    # 1. Killed mid-run: the model takes 2 s per answer; the kill comes while runs wait.
    llm.script(*[Hang(seconds=2.0) for _ in range(USERS)])
    first = GatewayProcess(env)
    gateways.append(first)
    first.start()
    push_round(tg, 1)
    wait_until("runs in flight", lambda: len(llm.requests()) >= 3)
    kill(first)
    assert sum(replies(tg).values()) == 0  # nothing answered before the kill

    second = GatewayProcess(env)
    gateways.append(second)
    second.start()
    wait_until("every round-1 reply", lambda: replies(tg) == expected(1) or None)

    # 2. Killed while replies go out: Telegram holds each sendMessage for 2 s.
    tg.hang("sendMessage", seconds=2.0, count=USERS)
    push_round(tg, 2)
    wait_until("sends in flight", lambda: tg.held("sendMessage") >= 3)
    kill(second)

    third = GatewayProcess(env)
    gateways.append(third)
    third.start()
    both = expected(1) + expected(2)
    wait_until("every round-2 reply", lambda: replies(tg) == both or None, within=60)
    assert replies(tg) == both  # each message answered exactly once
