"""The delivery port: lower apps queue channel messages without importing channels_app."""

from __future__ import annotations

import uuid

import pytest

from channels_app.models import ChannelAccount, OutboundMessage
from channels_app.services.outbound import OutboundError, outbound_deliver
from core import delivery


def test_channels_app_registers_its_outbox_at_start_up() -> None:
    assert delivery._deliverer is outbound_deliver


def test_an_unregistered_port_refuses_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "_deliverer", delivery._unavailable)
    with pytest.raises(delivery.DeliveryUnavailableError, match="no channel app is running"):
        delivery.deliver(
            delivery.ChannelMessage(
                channel="telegram", account_id="default", chat_id="1", text="hi", dedupe_key="k"
            )
        )
    assert issubclass(delivery.DeliveryUnavailableError, delivery.DeliveryError)


def test_a_registered_deliverer_gets_every_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[delivery.ChannelMessage] = []

    def fake(message: delivery.ChannelMessage) -> delivery.Accepted:
        seen.append(message)
        return delivery.Accepted(
            outbound_id=7,
            message_id="m",
            channel="telegram",
            chat_id="1",
            status="pending",
            created=True,
        )

    monkeypatch.setattr(delivery, "_deliverer", delivery._unavailable)
    delivery.register_deliverer(fake)
    run = uuid.uuid4()
    accepted = delivery.deliver(
        delivery.ChannelMessage(
            channel="telegram",
            account_id="default",
            chat_id="1",
            text="hi",
            dedupe_key="k",
            thread_id="9",
            run_public_id=run,
        )
    )
    assert accepted.outbound_id == 7
    assert seen == [
        delivery.ChannelMessage(
            channel="telegram",
            account_id="default",
            chat_id="1",
            text="hi",
            dedupe_key="k",
            thread_id="9",
            run_public_id=run,
        )
    ]


@pytest.mark.django_db
def test_deliver_queues_in_the_outbox_once_per_key() -> None:
    ChannelAccount.objects.create(kind="telegram", account_id="default")
    run = uuid.uuid4()
    first = delivery.deliver(
        delivery.ChannelMessage(
            channel="telegram",
            account_id="default",
            chat_id="42",
            text="the reply",
            dedupe_key="run:r1:reply",
            run_public_id=run,
        )
    )
    again = delivery.deliver(
        delivery.ChannelMessage(
            channel="telegram",
            account_id="default",
            chat_id="42",
            text="the reply",
            dedupe_key="run:r1:reply",
        )
    )
    row = OutboundMessage.objects.get()
    assert (first.created, again.created) == (True, False)
    assert first.outbound_id == again.outbound_id == row.pk
    assert first.message_id == str(row.public_id)
    assert (first.channel, first.chat_id, first.status) == ("telegram", "42", "pending")
    assert row.run_public_id == run


@pytest.mark.django_db
def test_the_outbox_refusals_are_delivery_errors() -> None:
    with pytest.raises(delivery.DeliveryError, match="explicit channel") as refused:
        delivery.deliver(
            delivery.ChannelMessage(
                channel="last", account_id="default", chat_id="1", text="hi", dedupe_key="k"
            )
        )
    assert isinstance(refused.value, OutboundError)
    assert not OutboundMessage.objects.exists()
