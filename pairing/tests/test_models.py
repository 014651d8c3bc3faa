from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.models import ChannelAccount
from pairing.models import AllowlistEntry, Device, PairingRequest

CODE = "K7MX3PQA"
DEVICE_ID = "a" * 64


@pytest.fixture
def account() -> ChannelAccount:
    return ChannelAccount.objects.create(kind="telegram", account_id="default")


def _request(
    account: ChannelAccount, sender: str, code: str, status: str = PairingRequest.Status.PENDING
) -> PairingRequest:
    now = timezone.now()
    return PairingRequest.objects.create(
        channel_account=account,
        sender_ref=sender,
        code=code,
        status=status,
        expires_at=now + timedelta(hours=1),
        decided_at=None if status == PairingRequest.Status.PENDING else now,
    )


@pytest.mark.django_db
def test_allowlist_entry_is_unique_per_account_and_sender(account: ChannelAccount) -> None:
    AllowlistEntry.objects.create(channel_account=account, sender_ref="42")

    with pytest.raises(IntegrityError), transaction.atomic():
        AllowlistEntry.objects.create(channel_account=account, sender_ref="42")


@pytest.mark.django_db
def test_same_sender_on_another_account_is_fine(account: ChannelAccount) -> None:
    other = ChannelAccount.objects.create(kind="telegram", account_id="work")
    AllowlistEntry.objects.create(channel_account=account, sender_ref="42")
    AllowlistEntry.objects.create(channel_account=other, sender_ref="42")

    assert AllowlistEntry.objects.filter(sender_ref="42").count() == 2


@pytest.mark.django_db
def test_allowlist_entry_needs_a_sender(account: ChannelAccount) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        AllowlistEntry.objects.create(channel_account=account, sender_ref="")


@pytest.mark.django_db
def test_one_pending_pairing_request_per_sender(account: ChannelAccount) -> None:
    _request(account, "42", CODE)

    with pytest.raises(IntegrityError), transaction.atomic():
        _request(account, "42", "ABCDEFGH")


@pytest.mark.django_db
def test_pending_pairing_code_is_unique(account: ChannelAccount) -> None:
    other = ChannelAccount.objects.create(kind="discord", account_id="default")
    _request(account, "42", CODE)

    with pytest.raises(IntegrityError), transaction.atomic():
        _request(other, "43", CODE)


@pytest.mark.django_db
def test_decided_requests_may_share_a_code_and_a_sender(account: ChannelAccount) -> None:
    _request(account, "42", CODE, PairingRequest.Status.APPROVED)
    _request(account, "42", CODE, PairingRequest.Status.EXPIRED)
    _request(account, "42", CODE)  # and one pending beside them

    assert PairingRequest.objects.filter(code=CODE).count() == 3


@pytest.mark.django_db
def test_decided_pairing_request_has_a_decision_time(account: ChannelAccount) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        PairingRequest.objects.create(
            channel_account=account,
            sender_ref="42",
            code=CODE,
            status=PairingRequest.Status.REJECTED,
            expires_at=timezone.now(),
        )


@pytest.mark.django_db
def test_paired_device_needs_an_approval_time() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Device.objects.create(device_id=DEVICE_ID, public_key="k", status=Device.Status.PAIRED)


@pytest.mark.django_db
def test_paired_device_with_approval_time_is_stored() -> None:
    device = Device.objects.create(
        device_id=DEVICE_ID,
        public_key="k",
        status=Device.Status.PAIRED,
        approved_at=timezone.now(),
    )

    assert device.pk is not None


@pytest.mark.django_db
def test_device_id_is_unique() -> None:
    Device.objects.create(device_id=DEVICE_ID, public_key="k")

    with pytest.raises(IntegrityError), transaction.atomic():
        Device.objects.create(device_id=DEVICE_ID, public_key="k2")
