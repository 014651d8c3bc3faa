"""How many SQL statements one Telegram message costs on its hot path (store, process, send).

Each statement through the ORM costs a few hundred microseconds of CPU (a SAVEPOINT about
60), and the inbound pipeline is CPU-bound under a burst (``bench/inbound_e2e.py``): a
change that adds one makes a test here fail, so it is a decision, not an accident. The
counts are of a common message: an allowed DM sender (dmPolicy open) in an existing
session, routed to the default agent. ``transaction=True``, so BEGIN, COMMIT and the
savepoints are counted as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from agents.models import Agent, Run
from agents.runtime import enqueue as agents_enqueue
from channels_app import work
from channels_app.connectors.base import InboundUpdate
from channels_app.models import ChannelAccount, InboundMessage, OutboundMessage
from channels_app.services.inbound import inbound_process, inbound_store
from channels_app.services.outbound import outbound_enqueue
from channels_app.services.sending import outbound_send
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "123456789:AAH-pipeline-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(work, "send", lambda name, pk, **_: sent.append((name, pk)))
    monkeypatch.setattr(agents_enqueue, "send", lambda name, *args: sent.append((name, args[0])))
    return sent


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as server:
        server.add_bot(TOKEN, username="testbot")
        yield server


@pytest.fixture
def account(tg: FakeTelegramServer) -> ChannelAccount:
    Agent.objects.create(slug="main", name="Main", is_default=True)
    return ChannelAccount.objects.create(
        kind="telegram",
        account_id="default",
        credentials={"botToken": TOKEN},
        api_root=tg.root_url,
        bot_id="123456789",
        bot_username="testbot",
        allow_from=["*"],
        dm_policy="open",
    )


def _dm(n: int) -> InboundUpdate:
    return InboundUpdate(
        external_id=str(n),
        payload={"update_id": n},
        sender_id="111",
        sender_name="User",
        chat_id="111",
        chat_type="direct",
        message_id=str(1000 + n),
        text=f"hello {n}",
    )


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"][:100] for query in queries.captured_queries]


def _received(account: ChannelAccount, n: int) -> int:
    """Store message ``n``; the first one also warms up the session and the caches."""
    with CaptureQueriesContext(connection) as queries:
        pks = inbound_store(account=account, updates=[_dm(n)])
    if n > 1:
        # BEGIN; INSERT OR IGNORE the row; SELECT the pks of the rows inserted; COMMIT.
        # (The account's last_update_at was written by message 1 less than 5 s ago.)
        assert len(queries) == 4, _statements(queries)
    return pks[0]


def test_storing_and_processing_an_allowed_dm(account: ChannelAccount) -> None:
    inbound_process(inbound_pk=_received(account, 1))  # creates the session
    pk = _received(account, 2)

    with CaptureQueriesContext(connection) as queries:
        outcome = inbound_process(inbound_pk=pk)

    # BEGIN IMMEDIATE
    # SELECT the chat's oldest waiting row (raw SQL), SELECT it with its account
    #   (no allowlist read: dmPolicy open does not ask pairing)
    # SAVEPOINT (inbound: a refused run marks the row failed and goes on)
    # SELECT the session (session_for_inbound, no savepoint)
    # -- agents.services.runs.run_start, handed that session (the agent is cached):
    # SAVEPOINT (run_start)
    # SAVEPOINT (the user message and the run together)
    # UPDATE the session's last_seq … RETURNING / INSERT the message (no savepoint)
    # INSERT the run / RELEASE (3 times)
    # -- back in the inbox:
    # UPDATE the row to processed; COMMIT
    # PostgreSQL adds two: the chat's advisory lock, and the head read again after it.
    assert len(queries) == 15 + (2 if connection.vendor == "postgresql" else 0), _statements(
        queries
    )
    assert outcome == "dmPolicy open; routed by default"
    assert InboundMessage.objects.get(pk=pk).status == InboundMessage.Status.PROCESSED
    assert Run.objects.count() == 2


def test_queueing_and_sending_a_reply(account: ChannelAccount, tg: FakeTelegramServer) -> None:
    with transaction.atomic():  # as a run's ending queues it, through core.delivery
        outbound_enqueue(
            kind="telegram", account_id="default", chat_id="111", text="one", dedupe_key="k1"
        )
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        enqueued = outbound_enqueue(
            kind="telegram", account_id="default", chat_id="111", text="two", dedupe_key="k2"
        )
    # BEGIN; SAVEPOINT; INSERT; RELEASE; COMMIT: the account's pk is cached, and the
    # dedupe key is not looked up first (the unique index refuses a second row).
    assert len(queries) == 5, _statements(queries)
    assert enqueued.created

    with CaptureQueriesContext(connection) as queries:
        assert outbound_send(outbound_pk=enqueued.message.pk, owner="worker") == "sent"

    # SELECT the row with its account; UPDATE pending → sending (the lease);
    # sendMessage; UPDATE sending → sent (autocommit, no transaction).
    assert len(queries) == 3, _statements(queries)
    assert [m["text"] for m in tg.sent_messages(TOKEN)] == ["two"]
    row = OutboundMessage.objects.get(pk=enqueued.message.pk)
    assert row.status == OutboundMessage.Status.SENT


def test_a_redelivered_update_is_stored_once(account: ChannelAccount, tasks: list[Any]) -> None:
    first = inbound_store(account=account, updates=[_dm(1), _dm(2)])
    again = inbound_store(account=account, updates=[_dm(2), _dm(3)])

    assert len(first) == 2
    assert len(again) == 1
    assert InboundMessage.objects.count() == 3
    assert tasks == [(work.INBOUND_TASK, pk) for pk in first + again]
