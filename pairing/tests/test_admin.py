"""Admin of the pairing app: actions call the services and report what they did."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from channels_app.tests.factories import ChannelAccountFactory
from pairing.models import AllowlistEntry, Device, PairingRequest
from pairing.tests.factories import AllowlistEntryFactory, DeviceFactory, PairingRequestFactory
from tests.admin_checks import admin_url, assert_add_and_change_load, assert_changelist_queries_flat

pytestmark = pytest.mark.django_db


_url = admin_url


def _run_action(client: Client, model: type[Any], action: str, pks: list[int]) -> list[str]:
    # Followed, so the changelist page consumes (and shows) the messages of this action.
    response = client.post(
        _url(model, "changelist"), {"action": action, "_selected_action": pks}, follow=True
    )
    assert response.redirect_chain[-1][1] == 302
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(
    ("factory", "max_queries"),
    [
        pytest.param(AllowlistEntryFactory, 6, id="allowlistentry"),
        pytest.param(PairingRequestFactory, 8, id="pairingrequest"),
        pytest.param(DeviceFactory, 7, id="device"),
    ],
)
def test_changelist_query_count_is_bounded_and_does_not_grow_with_rows(
    admin_client: Client,
    django_assert_max_num_queries: DjangoAssertNumQueries,
    factory: Any,
    max_queries: int,
) -> None:
    assert_changelist_queries_flat(
        admin_client, django_assert_max_num_queries, factory, max_queries
    )


@pytest.mark.parametrize(
    ("factory", "add_status"),
    [
        pytest.param(AllowlistEntryFactory, 200, id="allowlistentry"),
        # Requests come from senders and devices from the gateway handshake.
        pytest.param(PairingRequestFactory, 403, id="pairingrequest"),
        pytest.param(DeviceFactory, 403, id="device"),
    ],
)
def test_add_and_change_views_load(admin_client: Client, factory: Any, add_status: int) -> None:
    assert_add_and_change_load(admin_client, factory, add_status)


def test_approve_action_approves_pending_and_skips_decided(
    admin_client: Client, admin_user: User
) -> None:
    pending = PairingRequestFactory.create_batch(2)
    decided = PairingRequestFactory.create(
        status=PairingRequest.Status.REJECTED, decided_at=timezone.now()
    )

    notes = _run_action(
        admin_client, PairingRequest, "approve", [*(r.pk for r in pending), decided.pk]
    )

    assert len(notes) == 1
    assert notes[0].startswith("2 approved, 1 skipped")
    assert f"{decided.code} is already rejected" in notes[0]
    for request in pending:
        request.refresh_from_db()
        assert request.status == PairingRequest.Status.APPROVED
        assert request.decided_by == admin_user
        assert AllowlistEntry.objects.filter(
            channel_account=request.channel_account,
            sender_ref=request.sender_ref,
            source=AllowlistEntry.Source.PAIRING,
        ).exists()


def test_reject_action_rejects_without_allowlisting(admin_client: Client) -> None:
    request = PairingRequestFactory.create()

    notes = _run_action(admin_client, PairingRequest, "reject", [request.pk])

    assert notes == ["1 rejected, 0 skipped"]
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.REJECTED
    assert not AllowlistEntry.objects.exists()


def test_pairing_request_page_is_read_only(admin_client: Client) -> None:
    request = PairingRequestFactory.create()

    response = admin_client.get(_url(PairingRequest, "change", request.pk))
    post = admin_client.post(_url(PairingRequest, "change", request.pk), {"status": "approved"})

    assert 'name="status"' not in response.content.decode()
    assert post.status_code == 403
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.PENDING


def test_device_approve_and_revoke_actions(admin_client: Client, admin_user: User) -> None:
    device = DeviceFactory.create()

    approved = _run_action(admin_client, Device, "approve", [device.pk])
    device.refresh_from_db()
    assert approved == ["1 approved, 0 skipped"]
    assert device.status == Device.Status.PAIRED
    assert device.approved_by == admin_user

    Device.objects.filter(pk=device.pk).update(token_hash="a" * 64)
    revoked = _run_action(admin_client, Device, "revoke", [device.pk])
    device.refresh_from_db()
    assert revoked == ["1 revoked, 0 skipped"]
    assert device.status == Device.Status.REVOKED
    assert device.token_hash == ""


def test_device_reject_action_skips_paired_devices(admin_client: Client) -> None:
    pending = DeviceFactory.create()
    paired = DeviceFactory.create(paired=True)

    notes = _run_action(admin_client, Device, "reject", [pending.pk, paired.pk])

    assert notes[0].startswith("1 rejected, 1 skipped: cannot reject device")
    pending.refresh_from_db()
    paired.refresh_from_db()
    assert pending.status == Device.Status.REJECTED
    assert paired.status == Device.Status.PAIRED


def test_device_page_never_shows_the_token_hash(admin_client: Client) -> None:
    device = DeviceFactory.create(paired=True)

    html = admin_client.get(_url(Device, "change", device.pk)).content.decode()

    assert device.token_hash not in html
    assert device.device_id in html


def test_allowlist_add_goes_through_the_service(admin_client: Client, admin_user: User) -> None:
    account = ChannelAccountFactory.create()

    response = admin_client.post(
        _url(AllowlistEntry, "add"),
        {"channel_account": account.pk, "sender_ref": " 4242 ", "display_name": "Ann", "note": ""},
    )

    assert response.status_code == 302
    entry = AllowlistEntry.objects.get()
    assert entry.sender_ref == "4242"
    assert entry.added_by == admin_user
    assert entry.source == AllowlistEntry.Source.MANUAL


def test_allowlist_entry_identity_is_read_only_once_created(admin_client: Client) -> None:
    entry = AllowlistEntryFactory.create(sender_ref="4242")

    response = admin_client.post(
        _url(AllowlistEntry, "change", entry.pk),
        {"sender_ref": "9999", "display_name": "Renamed", "note": "friend"},
    )

    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.sender_ref == "4242"
    assert entry.display_name == "Renamed"
    assert entry.note == "friend"


def test_a_pending_requests_page_approves_it_with_a_button(
    admin_client: Client, admin_user: User
) -> None:
    request = PairingRequestFactory.create()
    page = admin_client.get(_url(PairingRequest, "change", request.pk)).content.decode()
    decide = f"/admin/pairing/pairingrequest/{request.pk}/decide/"
    assert f'action="{decide}"' in page
    assert 'name="approve"' in page

    response = admin_client.post(decide, {"approve": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == _url(PairingRequest, "change", request.pk)
    assert "1 approved" in response.content.decode()
    request.refresh_from_db()
    assert (request.status, request.decided_by) == (PairingRequest.Status.APPROVED, admin_user)
    assert AllowlistEntry.objects.filter(sender_ref=request.sender_ref).exists()
    # Decided: its page has no buttons any more.
    page = admin_client.get(_url(PairingRequest, "change", request.pk)).content.decode()
    assert 'name="approve"' not in page


def test_the_reject_button_and_what_is_refused(admin_client: Client) -> None:
    request = PairingRequestFactory.create()
    decide = f"/admin/pairing/pairingrequest/{request.pk}/decide/"
    assert admin_client.get(decide).status_code == 405
    admin_client.post(decide, {"reject": "1"})
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.REJECTED

    viewer = User.objects.create_user("v", password="x" * 20, is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewers"))
    client = Client()
    client.force_login(viewer)
    other = PairingRequestFactory.create()
    page = client.get(_url(PairingRequest, "change", other.pk)).content.decode()
    assert 'name="approve"' not in page
    denied = client.post(f"/admin/pairing/pairingrequest/{other.pk}/decide/", {"approve": "1"})
    assert denied.status_code == 403
    other.refresh_from_db()
    assert other.status == PairingRequest.Status.PENDING
