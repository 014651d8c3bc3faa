"""The inbound pipeline in one process: store, decide, route, answer; and the webhook door.

Updates are stored with ``inbound_store`` (what a poller or the webhook does) and
processed with ``inbound_process`` (what ``channels.inbound_process`` does), with tasks
captured instead of sent, so each step's rows can be read back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents.models import Agent, RoutingRule, Run
from channels_app import work
from channels_app.connectors.base import InboundUpdate
from channels_app.models import ChannelAccount, InboundMessage, OutboundMessage
from channels_app.services.inbound import inbound_process, inbound_store
from pairing.models import AllowlistEntry, PairingRequest
from sessions_app.services import session_settings_set

pytestmark = pytest.mark.django_db
TOKEN = "123456789:AAH-pipeline-token-0123456789abcdef"
SECRET = "webhook-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    tasks: list[tuple[str, int]] = []
    monkeypatch.setattr(work, "send", lambda name, pk, **_: tasks.append((name, pk)))
    return tasks


@pytest.fixture
def agent() -> Agent:
    return Agent.objects.create(slug="main", name="Main", is_default=True)


def account(**fields: Any) -> ChannelAccount:
    values: dict[str, Any] = {
        "kind": "telegram",
        "account_id": "default",
        "credentials": {"botToken": TOKEN, "webhookSecret": SECRET},
        "bot_id": "123456789",
        "bot_username": "testbot",
    }
    values.update(fields)
    return ChannelAccount.objects.create(**values)


def dm(n: int, sender: str = "111", text: str = "hello", **fields: Any) -> InboundUpdate:
    values: dict[str, Any] = {
        "external_id": str(n),
        "payload": {"update_id": n},
        "sender_id": sender,
        "sender_name": f"User {sender}",
        "chat_id": sender,
        "chat_type": "direct",
        "message_id": str(1000 + n),
        "text": text,
    }
    values.update(fields)
    return InboundUpdate(**values)


def group(n: int, sender: str = "111", text: str = "hi", **fields: Any) -> InboundUpdate:
    fields.setdefault("chat_id", "-100")
    return dm(n, sender, text, chat_type="group", chat_title="Team", **fields)


def process(acc: ChannelAccount, *updates: InboundUpdate) -> list[InboundMessage]:
    pks = inbound_store(account=acc, updates=list(updates))
    for pk in pks:
        inbound_process(inbound_pk=pk)
    return list(InboundMessage.objects.filter(pk__in=pks).order_by("pk"))


def test_an_unknown_sender_gets_one_pairing_code_and_no_run(agent: Agent) -> None:
    acc = account()
    [first, again] = process(acc, dm(1), dm(2, text="still there?"))

    assert (first.status, again.status) == ("ignored", "ignored")
    request = PairingRequest.objects.get(channel_account=acc, sender_ref="111")
    assert request.code in first.decision
    assert "already sent" in again.decision
    [reply] = OutboundMessage.objects.all()
    assert f"Pairing code: {request.code}" in reply.text
    assert reply.chat_id == "111"
    assert not Run.objects.exists()


def test_an_allowed_sender_starts_one_channel_run_with_its_reply_address(agent: Agent) -> None:
    acc = account(allow_from=["111"])
    session_settings_set(dm_scope="per-channel-peer")
    [row] = process(acc, dm(1, text="**hi**"))

    run = Run.objects.get()
    assert row.status == "processed"
    assert row.session_key == run.session.key == "agent:main:telegram:direct:111"
    assert run.origin == "channel"
    assert run.trusted_sender is True  # named in allowFrom: an owner
    assert run.reply_to == {"channel": "telegram", "accountId": "default", "chatId": "111"}
    # The same update again (Telegram redelivers): stored once, nothing new happens.
    assert inbound_store(account=acc, updates=[dm(1, text="**hi**")]) == []
    assert Run.objects.count() == 1


def test_a_paired_sender_is_answered_in_a_sandboxed_turn(agent: Agent) -> None:
    acc = account()
    AllowlistEntry.objects.create(channel_account=acc, sender_ref="222", source="pairing")
    [row] = process(acc, dm(1, sender="222"))

    assert row.status == "processed"
    assert Run.objects.get().trusted_sender is False


def test_group_gates_and_the_mention(agent: Agent) -> None:
    acc = account(groups={"-100": {}})
    rows = process(
        acc,
        group(1, text="no mention"),
        group(2, text="@testbot hi", mentioned=True),
        group(3, chat_id="-200", text="@testbot other group", mentioned=True),
    )

    assert [r.status for r in rows] == ["ignored", "processed", "ignored"]
    assert rows[0].decision.startswith("not mentioned")
    assert "not in groups" in rows[2].decision
    run = Run.objects.get()
    assert run.session.key == "agent:main:telegram:group:-100"
    assert run.reply_to["replyToMessageId"] == "1002"


def test_a_binding_routes_the_chat_to_its_agent(agent: Agent) -> None:
    helper = Agent.objects.create(slug="helper", name="Helper")
    RoutingRule.objects.create(agent=helper, channel="telegram", peer_kind="direct", peer_id="111")
    acc = account(allow_from=["111", "333"])
    session_settings_set(dm_scope="per-peer")
    process(acc, dm(1), dm(2, sender="333"))

    keys = dict(Run.objects.values_list("session__key", "agent__slug"))
    assert keys == {"agent:helper:direct:111": "helper", "agent:main:direct:333": "main"}


def test_an_in_chat_command_is_answered_before_the_model(agent: Agent) -> None:
    acc = account(allow_from=["111"])
    [row] = process(acc, dm(1, text="/status"))

    assert row.status == "processed"
    assert row.decision.startswith("command: /status")
    assert not Run.objects.exists()
    [reply] = OutboundMessage.objects.all()
    assert reply.dedupe_key == f"inbound:{row.pk}:command"


def test_a_chat_keeps_its_order_and_a_huge_message_is_cut_for_the_model(agent: Agent) -> None:
    acc = account(allow_from=["111"])
    pks = inbound_store(account=acc, updates=[dm(1, text="x" * 100_000), dm(2, text="second")])
    # The task of the second message runs first: it processes the older one and queues
    # itself again.
    assert inbound_process(inbound_pk=pks[1]) is not None
    assert InboundMessage.objects.get(pk=pks[0]).status == "processed"
    assert InboundMessage.objects.get(pk=pks[1]).status == "received"
    inbound_process(inbound_pk=pks[1])
    first, second = Run.objects.order_by("pk")
    assert (
        first.session.messages.filter(role="user")
        .order_by("seq")[0]
        .text.endswith("[message truncated: 100000 characters, the first 32000 kept]")
    )
    assert InboundMessage.objects.get(pk=pks[0]).text == "x" * 100_000  # kept whole
    assert (first.trigger_seq or 0) < (second.trigger_seq or 0)


def test_unsupported_updates_are_stored_as_ignored_with_the_reason(agent: Agent) -> None:
    acc = account(allow_from=["111"])
    pks = inbound_store(
        account=acc,
        updates=[dm(1, ignore_reason="edited messages are not answered")],
        cursor="2",
    )

    assert pks == []
    row = InboundMessage.objects.get()
    assert (row.status, row.decision) == ("ignored", "edited messages are not answered")
    acc.refresh_from_db()
    assert acc.cursor == "2"


# --- the webhook door ------------------------------------------------------------------
def _post(body: bytes, secret: str | None, path: str = "/telegram-webhook") -> Any:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return Client().post(path, data=body, content_type="application/json", headers=headers)


UPDATE = {
    "update_id": 7,
    "message": {
        "message_id": 3,
        "date": 1,
        "chat": {"id": 111, "type": "private", "first_name": "A"},
        "from": {"id": 111, "is_bot": False, "first_name": "A"},
        "text": "via webhook",
    },
}


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_a_webhook_without_the_right_secret_gets_401_and_stores_nothing(
    agent: Agent, secret: str | None
) -> None:
    account(mode="webhook")
    response = _post(json.dumps(UPDATE).encode(), secret)

    assert response.status_code == 401
    assert "secret" in response.json()["error"]
    assert not InboundMessage.objects.exists()


def test_a_webhook_update_is_stored_once_and_queued(
    agent: Agent, sent: list[tuple[str, int]]
) -> None:
    account(mode="webhook")
    for _ in range(2):  # Telegram retries a webhook it thinks failed
        assert _post(json.dumps(UPDATE).encode(), SECRET).status_code == 200

    row = InboundMessage.objects.get()
    assert (row.external_id, row.text, row.status) == ("7", "via webhook", "received")


def test_bad_webhook_requests_get_clear_errors(agent: Agent) -> None:
    account(mode="webhook")
    assert _post(b"{not json", SECRET).status_code == 400
    assert _post(json.dumps(UPDATE).encode(), SECRET, "/telegram-webhook/nope").status_code == 404
    assert Client().get("/telegram-webhook").status_code == 405
    assert not InboundMessage.objects.exists()
