from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.models import ChannelAccount, InboundMessage, OutboundMessage


@pytest.fixture
def account() -> ChannelAccount:
    return ChannelAccount.objects.create(kind="telegram", account_id="default")


def _inbound(account: ChannelAccount, external_id: str) -> InboundMessage:
    return InboundMessage.objects.create(
        account=account,
        external_id=external_id,
        sender_id="42",
        chat_id="42",
        received_at=timezone.now(),
    )


@pytest.mark.django_db
def test_channel_account_is_unique_per_kind_and_account_id(account: ChannelAccount) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        ChannelAccount.objects.create(kind="telegram", account_id="default")


@pytest.mark.django_db
def test_same_account_id_on_another_platform_is_fine(account: ChannelAccount) -> None:
    ChannelAccount.objects.create(kind="discord", account_id="default")

    assert ChannelAccount.objects.filter(account_id="default").count() == 2


@pytest.mark.django_db
def test_inbound_message_is_unique_per_account_and_external_id(account: ChannelAccount) -> None:
    _inbound(account, "update-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        _inbound(account, "update-1")


@pytest.mark.django_db
def test_same_external_id_on_another_account_is_fine(account: ChannelAccount) -> None:
    other = ChannelAccount.objects.create(kind="telegram", account_id="work")
    _inbound(account, "update-1")
    _inbound(other, "update-1")

    assert InboundMessage.objects.filter(external_id="update-1").count() == 2


@pytest.mark.django_db
def test_outbound_dedupe_key_is_unique(account: ChannelAccount) -> None:
    OutboundMessage.objects.create(account=account, chat_id="42", dedupe_key="run-1:0")

    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundMessage.objects.create(account=account, chat_id="42", dedupe_key="run-1:0")


@pytest.mark.django_db
def test_outbound_messages_without_dedupe_key_do_not_collide(account: ChannelAccount) -> None:
    OutboundMessage.objects.create(account=account, chat_id="42")
    OutboundMessage.objects.create(account=account, chat_id="42")

    assert OutboundMessage.objects.filter(dedupe_key__isnull=True).count() == 2


def test_open_dm_policy_needs_a_star_in_allow_from() -> None:
    account = ChannelAccount(
        kind="telegram", dm_policy=ChannelAccount.DmPolicy.OPEN, allow_from=["123"]
    )

    with pytest.raises(ValidationError) as excinfo:
        account.clean()

    assert "allow_from" in excinfo.value.message_dict


def test_open_dm_policy_with_star_is_valid() -> None:
    ChannelAccount(
        kind="telegram", dm_policy=ChannelAccount.DmPolicy.OPEN, allow_from=["*"]
    ).clean()


@pytest.mark.parametrize("value", ["123", [""], [None], [{"id": 1}]])
def test_allow_from_must_be_a_list_of_sender_ids(value: object) -> None:
    account = ChannelAccount(kind="telegram", allow_from=value)

    with pytest.raises(ValidationError) as excinfo:
        account.clean()

    assert "allow_from" in excinfo.value.message_dict


def test_allow_from_accepts_numbers_and_handles() -> None:
    ChannelAccount(
        kind="telegram", allow_from=[123456, "@alice"], group_allow_from=["-100"]
    ).clean()
