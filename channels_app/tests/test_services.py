"""The durable outbox: accepted once, kept pending for its connector."""

from __future__ import annotations

import pytest

from channels_app.models import ChannelAccount, OutboundMessage
from channels_app.services import OutboundError, outbound_enqueue


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
