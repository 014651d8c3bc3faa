"""Tests of the pairing services: allowlist, pairing requests, devices."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections
from django.utils import timezone

from channels_app.tests.factories import ChannelAccountFactory
from pairing.lib.codes import PAIRING_ALPHABET
from pairing.models import AllowlistEntry, Device, PairingRequest
from pairing.services import (
    MAX_PENDING_PER_ACCOUNT,
    PairingError,
    allowlist_entry_add,
    device_approve,
    device_reject,
    device_revoke,
    pairing_request_approve,
    pairing_request_approve_code,
    pairing_request_create,
    pairing_request_reject,
    pairing_requests_expire,
)
from pairing.tests.factories import AllowlistEntryFactory, DeviceFactory, PairingRequestFactory

pytestmark = pytest.mark.django_db


# --- allowlist ------------------------------------------------------------------------


def test_allowlist_add_is_idempotent_and_strips_the_sender() -> None:
    account = ChannelAccountFactory.create()

    first = allowlist_entry_add(channel_account_id=account.pk, sender_ref="  4242 ")
    again = allowlist_entry_add(
        channel_account_id=account.pk, sender_ref="4242", source=AllowlistEntry.Source.PAIRING
    )

    assert again.pk == first.pk
    assert first.sender_ref == "4242"
    assert again.source == AllowlistEntry.Source.MANUAL
    assert AllowlistEntry.objects.count() == 1


def test_allowlist_add_rejects_an_empty_sender() -> None:
    account = ChannelAccountFactory.create()

    with pytest.raises(PairingError, match="sender id is empty"):
        allowlist_entry_add(channel_account_id=account.pk, sender_ref="   ")


def test_allowlist_add_records_who_added(admin_user: User) -> None:
    account = ChannelAccountFactory.create()

    entry = allowlist_entry_add(
        channel_account_id=account.pk, sender_ref="7", added_by=admin_user, display_name="Ann"
    )

    assert entry.added_by == admin_user
    assert entry.display_name == "Ann"


# --- pairing_request_create -----------------------------------------------------------


def test_create_makes_a_pending_request_with_a_readable_code_for_one_hour() -> None:
    account = ChannelAccountFactory.create()
    now = timezone.now()

    request, created = pairing_request_create(
        channel_account_id=account.pk, sender_ref="555", sender_meta={"username": "ann"}, now=now
    )

    assert created
    assert request.status == PairingRequest.Status.PENDING
    assert re.fullmatch(f"[{PAIRING_ALPHABET}]{{8}}", request.code)
    assert not set(request.code) & set("01OI")
    assert request.expires_at == now + timedelta(hours=1)
    assert request.sender_meta == {"username": "ann"}


def test_create_again_returns_the_open_request_and_updates_last_seen() -> None:
    account = ChannelAccountFactory.create()
    start = timezone.now()
    first, _ = pairing_request_create(channel_account_id=account.pk, sender_ref="555", now=start)

    later = start + timedelta(minutes=10)
    again, created = pairing_request_create(
        channel_account_id=account.pk, sender_ref="555", sender_meta={"username": "ann"}, now=later
    )

    assert not created
    assert again.pk == first.pk
    assert again.code == first.code
    assert again.last_seen_at == later
    assert again.sender_meta == {"username": "ann"}


def test_create_refuses_a_fourth_pending_request_per_account() -> None:
    account = ChannelAccountFactory.create()
    other = ChannelAccountFactory.create()
    for n in range(MAX_PENDING_PER_ACCOUNT):
        pairing_request_create(channel_account_id=account.pk, sender_ref=f"s{n}")

    with pytest.raises(PairingError, match="already has 3 pending"):
        pairing_request_create(channel_account_id=account.pk, sender_ref="s-extra")
    # The cap is per account; a known sender still gets its open request back.
    _, created_elsewhere = pairing_request_create(channel_account_id=other.pk, sender_ref="s-extra")
    _, created_again = pairing_request_create(channel_account_id=account.pk, sender_ref="s0")

    assert created_elsewhere
    assert not created_again


def test_create_expires_stale_requests_first_which_frees_a_slot() -> None:
    account = ChannelAccountFactory.create()
    long_ago = timezone.now() - timedelta(hours=2)
    for n in range(MAX_PENDING_PER_ACCOUNT):
        pairing_request_create(channel_account_id=account.pk, sender_ref=f"s{n}", now=long_ago)

    request, created = pairing_request_create(channel_account_id=account.pk, sender_ref="new")

    assert created
    assert request.status == PairingRequest.Status.PENDING
    assert (
        PairingRequest.objects.filter(
            channel_account=account, status=PairingRequest.Status.EXPIRED
        ).count()
        == MAX_PENDING_PER_ACCOUNT
    )


def test_create_for_an_expired_sender_issues_a_new_code() -> None:
    account = ChannelAccountFactory.create()
    old, _ = pairing_request_create(
        channel_account_id=account.pk, sender_ref="555", now=timezone.now() - timedelta(hours=2)
    )

    new, created = pairing_request_create(channel_account_id=account.pk, sender_ref="555")

    assert created
    assert new.pk != old.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_of_one_account_cannot_pass_the_cap() -> None:
    """Six senders at once, three slots: the advisory lock lets exactly three in."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time (IMMEDIATE); the lock is PostgreSQL's")
    account = ChannelAccountFactory.create()
    senders = 2 * MAX_PENDING_PER_ACCOUNT
    barrier = threading.Barrier(senders)
    outcomes: list[str] = []

    def create(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            pairing_request_create(channel_account_id=account.pk, sender_ref=f"s{n}")
            outcomes.append("created")
        except PairingError:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["created"] * 3 + ["refused"] * 3
    assert (
        PairingRequest.objects.filter(
            channel_account=account, status=PairingRequest.Status.PENDING
        ).count()
        == MAX_PENDING_PER_ACCOUNT
    )


def test_create_for_an_unknown_account_fails_clearly() -> None:
    with pytest.raises(PairingError, match="no channel account #999"):
        pairing_request_create(channel_account_id=999, sender_ref="555")


# --- approve / reject / expire --------------------------------------------------------


def test_approve_allowlists_the_sender_and_records_the_decision(admin_user: User) -> None:
    request = PairingRequestFactory.create(sender_meta={"username": "ann"})

    approved = pairing_request_approve(request_id=request.pk, decided_by=admin_user).request

    assert approved.status == PairingRequest.Status.APPROVED
    assert approved.decided_by == admin_user
    assert approved.decided_at is not None
    entry = AllowlistEntry.objects.get(
        channel_account=request.channel_account, sender_ref=request.sender_ref
    )
    assert entry.source == AllowlistEntry.Source.PAIRING
    assert entry.display_name == "ann"


def test_approve_twice_is_refused_by_compare_and_set() -> None:
    request = PairingRequestFactory.create()
    pairing_request_approve(request_id=request.pk)

    with pytest.raises(PairingError, match="already approved"):
        pairing_request_approve(request_id=request.pk)
    assert AllowlistEntry.objects.count() == 1


def test_approve_of_an_expired_request_is_refused() -> None:
    request = PairingRequestFactory.create(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(PairingError, match="expired"):
        pairing_request_approve(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.PENDING
    assert not AllowlistEntry.objects.exists()


def test_approve_of_a_missing_request_says_so() -> None:
    with pytest.raises(PairingError, match="no pairing request #12345"):
        pairing_request_approve(request_id=12345)


def test_approve_keeps_an_existing_manual_entry() -> None:
    request = PairingRequestFactory.create()
    manual = AllowlistEntryFactory.create(
        channel_account=request.channel_account, sender_ref=request.sender_ref
    )

    pairing_request_approve(request_id=request.pk)

    assert AllowlistEntry.objects.get().pk == manual.pk
    assert AllowlistEntry.objects.get().source == AllowlistEntry.Source.MANUAL


def test_approve_code_normalises_what_the_operator_typed() -> None:
    request = PairingRequestFactory.create(code="K7MX3PQA")

    approved = pairing_request_approve_code(channel="telegram", code=" k7mx-3pqa ").request

    assert approved.pk == request.pk
    assert approved.status == PairingRequest.Status.APPROVED


def test_approve_code_only_matches_the_given_account() -> None:
    request = PairingRequestFactory.create(code="K7MX3PQA")
    other = ChannelAccountFactory.create()

    with pytest.raises(PairingError, match="no pending pairing request with code K7MX3PQA"):
        pairing_request_approve_code(
            channel="telegram", account_id=other.account_id, code="K7MX3PQA"
        )
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.PENDING


def test_approve_code_rejects_a_malformed_code() -> None:
    ChannelAccountFactory.create()

    with pytest.raises(PairingError, match="not a pairing code"):
        pairing_request_approve_code(channel="telegram", code="K7MX0PQI")


def test_reject_closes_the_request_without_allowlisting(admin_user: User) -> None:
    request = PairingRequestFactory.create()

    rejected = pairing_request_reject(request_id=request.pk, decided_by=admin_user)

    assert rejected.status == PairingRequest.Status.REJECTED
    assert rejected.decided_by == admin_user
    assert not AllowlistEntry.objects.exists()
    with pytest.raises(PairingError, match="already rejected"):
        pairing_request_approve(request_id=request.pk)


def test_reject_after_approve_is_refused() -> None:
    request = PairingRequestFactory.create()
    pairing_request_approve(request_id=request.pk)

    with pytest.raises(PairingError, match="already approved"):
        pairing_request_reject(request_id=request.pk)


def test_expire_closes_only_requests_past_their_expiry() -> None:
    now = timezone.now()
    stale = PairingRequestFactory.create(expires_at=now - timedelta(minutes=1))
    fresh = PairingRequestFactory.create(expires_at=now + timedelta(minutes=1))

    assert pairing_requests_expire(now=now) == 1
    assert pairing_requests_expire(now=now) == 0

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == PairingRequest.Status.EXPIRED
    assert stale.decided_at == now
    assert fresh.status == PairingRequest.Status.PENDING


# --- devices --------------------------------------------------------------------------


def test_device_approve_pairs_and_records_the_approver(admin_user: User) -> None:
    device = DeviceFactory.create()

    paired = device_approve(device_pk=device.pk, approved_by=admin_user)

    assert paired.status == Device.Status.PAIRED
    assert paired.approved_by == admin_user
    assert paired.approved_at is not None


def test_device_approve_twice_is_refused() -> None:
    device = DeviceFactory.create()
    device_approve(device_pk=device.pk)

    with pytest.raises(PairingError, match=r"cannot approve device .*: it is paired"):
        device_approve(device_pk=device.pk)


def test_device_reject_only_from_pending() -> None:
    device = DeviceFactory.create()

    assert device_reject(device_pk=device.pk).status == Device.Status.REJECTED
    with pytest.raises(PairingError, match="cannot approve"):
        device_approve(device_pk=device.pk)


def test_device_revoke_clears_the_token_hash() -> None:
    device = DeviceFactory.create(paired=True)
    assert device.token_hash

    revoked = device_revoke(device_pk=device.pk)

    assert revoked.status == Device.Status.REVOKED
    assert revoked.token_hash == ""


def test_device_revoke_of_a_pending_device_is_refused() -> None:
    device = DeviceFactory.create()

    with pytest.raises(PairingError, match="cannot revoke"):
        device_revoke(device_pk=device.pk)


def test_device_decision_on_a_missing_device_says_so() -> None:
    with pytest.raises(PairingError, match="no device #999"):
        device_approve(device_pk=999)
