"""A finished channel run hands its reply to the delivery port (core.delivery)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.models import Agent, Run
from agents.runtime import enqueue
from agents.runtime import loop as run_loop
from agents.services import runs
from channels_app.models import ChannelAccount, OutboundMessage
from core import delivery, ttlcache

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _placeholder_model(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.WORKSPACES_DIR = tmp_path / "workspaces"
    settings.OPENCLAW_MODEL = "placeholder/echo"
    settings.OPENCLAW_MODEL_FALLBACKS = []
    ttlcache.forget_all()
    monkeypatch.setattr(enqueue, "send", lambda *args, **kwargs: None)
    Agent.objects.create(slug="main", name="Main", is_default=True)


def _channel_turn(run_id: str, reply_to: dict[str, Any], text: str = "hello") -> Run:
    run = runs.run_start(
        session_key="agent:main:telegram:direct:42",
        message=text,
        idempotency_key=run_id,
        origin=Run.Origin.CHANNEL,
        reply_to=reply_to,
    ).run
    run_loop.run_advance(run_pk=run.pk)
    return Run.objects.get(pk=run.pk)


def test_the_reply_of_a_channel_run_is_queued_in_the_chats_outbox_once() -> None:
    account = ChannelAccount.objects.create(kind="telegram", account_id="default")
    run = _channel_turn("c1", {"channel": "telegram", "accountId": "default", "chatId": "42"})
    assert run.status == Run.Status.SUCCEEDED
    (out,) = OutboundMessage.objects.all()
    assert out.account_id == account.pk
    assert out.chat_id == "42"
    assert out.text
    assert out.dedupe_key == f"run:{run.public_id}:reply"
    # Delivering the same run again (a retried ending) queues nothing new.
    delivery.deliver(
        delivery.ChannelMessage(
            channel="telegram",
            account_id="default",
            chat_id="42",
            text=out.text,
            dedupe_key=out.dedupe_key,
        )
    )
    assert OutboundMessage.objects.count() == 1


def test_a_webhook_run_with_a_chat_to_deliver_to_is_sent_there() -> None:
    ChannelAccount.objects.create(kind="telegram", account_id="default")
    run = runs.run_start(
        session_key="hook:0b6f",
        message="the build failed",
        idempotency_key="h1",
        origin=Run.Origin.HOOK,
        reply_to={"channel": "telegram", "accountId": "default", "chatId": "42"},
    ).run
    run_loop.run_advance(run_pk=run.pk)
    (out,) = OutboundMessage.objects.all()
    assert (out.chat_id, out.dedupe_key) == ("42", f"run:{run.public_id}:reply")


def test_gateway_runs_queue_nothing() -> None:
    ChannelAccount.objects.create(kind="telegram", account_id="default")
    run = runs.run_start(session_key="agent:main:main", message="hi", idempotency_key="g1").run
    run_loop.run_advance(run_pk=run.pk)
    assert Run.objects.get(pk=run.pk).status == Run.Status.SUCCEEDED
    assert not OutboundMessage.objects.exists()


def test_a_reply_the_outbox_refuses_does_not_fail_the_run(caplog: pytest.LogCaptureFixture) -> None:
    # No channel account is configured: the run still succeeds, and the log says why
    # its reply went nowhere.
    run = _channel_turn("c2", {"channel": "telegram", "accountId": "default", "chatId": "42"})
    assert run.status == Run.Status.SUCCEEDED
    assert not OutboundMessage.objects.exists()
    assert "reply was not queued" in caplog.text
    assert "no enabled telegram account" in caplog.text
