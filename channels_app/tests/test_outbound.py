"""The durable outbox: accepted once, kept pending for its connector."""

from __future__ import annotations

import uuid

import pytest

from channels_app.models import ChannelAccount, OutboundMessage
from channels_app.services.outbound import OutboundError, outbound_deliver, outbound_enqueue
from core import delivery
from core.delivery import Accepted


@pytest.fixture
def account() -> ChannelAccount:
    return ChannelAccount.objects.create(kind="telegram", account_id="default")


@pytest.mark.django_db
def test_a_message_is_accepted_once_per_key(account: ChannelAccount) -> None:
    first = outbound_enqueue(
        kind="telegram", account_id="default", chat_id="42", text="hi", dedupe_key="send:k1"
    )
    again = outbound_enqueue(
        kind="telegram", account_id="default", chat_id="42", text="hi", dedupe_key="send:k1"
    )
    assert first.created
    assert not again.created
    assert again.message.pk == first.message.pk
    assert OutboundMessage.objects.count() == 1
    assert first.message.status == OutboundMessage.Status.PENDING
    assert first.message.account == account


@pytest.mark.django_db
def test_a_disabled_or_missing_account_is_refused_with_what_to_do(account: ChannelAccount) -> None:
    account.enabled = False
    account.save()
    with pytest.raises(OutboundError, match="add one in the admin"):
        outbound_enqueue(
            kind="telegram", account_id="default", chat_id="42", text="hi", dedupe_key="k"
        )
    with pytest.raises(OutboundError, match="no enabled slack account 'work'"):
        outbound_enqueue(kind="slack", account_id="work", chat_id="c", text="hi", dedupe_key="k")
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db
def test_an_empty_message_is_refused(account: ChannelAccount) -> None:
    with pytest.raises(OutboundError, match="empty"):
        outbound_enqueue(
            kind="telegram", account_id="default", chat_id="42", text="  ", dedupe_key="k"
        )


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["", "last", " LAST "])
def test_a_missing_or_last_channel_is_refused(account: ChannelAccount, kind: str) -> None:
    with pytest.raises(OutboundError, match=r"explicit channel.*last-used channel"):
        outbound_enqueue(kind=kind, account_id="default", chat_id="42", text="hi", dedupe_key="k")
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db
def test_an_unknown_channel_is_refused_with_the_known_ones(account: ChannelAccount) -> None:
    with pytest.raises(
        OutboundError, match=r"unknown channel 'carrier-pigeon'; known channels: telegram, "
    ):
        outbound_enqueue(
            kind="carrier-pigeon", account_id="default", chat_id="42", text="hi", dedupe_key="k"
        )
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db
def test_the_channel_kind_is_normalized(account: ChannelAccount) -> None:
    enqueued = outbound_enqueue(
        kind=" Telegram ", account_id="default", chat_id="42", text="hi", dedupe_key="k"
    )
    assert enqueued.message.account == account


@pytest.mark.django_db
def test_outbound_deliver_answers_the_port_with_the_row(account: ChannelAccount) -> None:
    run = uuid.uuid4()
    accepted = outbound_deliver(
        delivery.ChannelMessage(
            channel="telegram",
            account_id="default",
            chat_id="42",
            text="hi",
            dedupe_key="run:r1:reply",
            thread_id="7",
            run_public_id=run,
        )
    )
    row = OutboundMessage.objects.get()
    assert accepted == Accepted(
        outbound_id=row.pk,
        message_id=str(row.public_id),
        channel="telegram",
        chat_id="42",
        status="pending",
        created=True,
    )
    assert (row.thread_id, row.run_public_id) == ("7", run)
