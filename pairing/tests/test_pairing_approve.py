"""Approving a DM pairing: the allowlist entry, the sender's notice, errors and the limit.

The same service answers the admin action, ``manage.py pairing``, the ``pairing.*`` RPCs
and ``/approve``; the notice goes through the real delivery port into the real outbox.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.utils import timezone

from channels_app.models import OutboundMessage
from channels_app.tests.factories import ChannelAccountFactory
from gateway import scopes as gw_scopes
from gateway import state
from gateway.ratelimit import auth_rate_limiter
from gateway.services import gateway_token_create
from pairing.models import AllowlistEntry, PairingRequest
from pairing.services import (
    PAIRING_APPROVED_TEXT,
    PairingError,
    PairingRateLimitedError,
    pairing_request_approve,
    pairing_request_approve_code,
    pairing_request_create,
    pairing_request_reject_code,
    pairing_requests_pending,
    wrong_codes,
)
from pairing.tests.factories import PairingRequestFactory
from tests.admin_checks import admin_url
from tests.openclaw_client import InProcessClient, release_worker_db_connections

CODE = "K7MX3PQA"
WRONG = "AAAAAAAA"


@pytest.fixture(autouse=True)
def _fresh_limiter() -> Iterator[None]:
    cache.clear()  # LocMemCache outlives a test: no wrong codes carried over
    yield
    wrong_codes.clock = wrong_codes.__class__().clock


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


# --- the approval and its notice --------------------------------------------------------
@pytest.mark.django_db
def test_approval_allowlists_the_sender_and_queues_openclaws_notice_to_their_chat() -> None:
    account = ChannelAccountFactory.create(account_id="default")
    # As the inbound pipeline creates it: the chat to answer is in the request's meta.
    request, created = pairing_request_create(
        channel_account_id=account.pk,
        sender_ref="4242",
        sender_meta={"chatId": "4242", "name": "Ann", "username": "ann"},
    )
    assert created

    approval = pairing_request_approve_code(channel="Telegram", code=request.code.lower())

    assert (approval.notified, approval.notice_error) == (True, "")
    assert approval.request.status == PairingRequest.Status.APPROVED
    entry = AllowlistEntry.objects.get(channel_account=account, sender_ref="4242")
    assert (entry.source, entry.display_name) == (AllowlistEntry.Source.PAIRING, "Ann")
    assert PAIRING_APPROVED_TEXT == "✅ OpenClaw access approved. Send a message to start chatting."
    notice = OutboundMessage.objects.get()
    assert (notice.account_id, notice.chat_id, notice.text, notice.dedupe_key) == (
        account.pk,
        "4242",
        PAIRING_APPROVED_TEXT,
        f"pairing:{request.pk}:approved",
    )
    assert notice.status == OutboundMessage.Status.PENDING


@pytest.mark.django_db
def test_a_request_without_a_chat_id_is_answered_in_the_senders_dm() -> None:
    request = PairingRequestFactory.create(code=CODE, sender_ref="777", sender_meta={})

    pairing_request_approve(request_id=request.pk)

    assert OutboundMessage.objects.get().chat_id == "777"  # a Telegram DM: chat id = sender id


@pytest.mark.django_db
def test_the_notice_commits_with_the_approval_or_not_at_all() -> None:
    request = PairingRequestFactory.create(code=CODE)

    def approve_then_fail() -> None:
        with transaction.atomic():
            pairing_request_approve_code(channel="telegram", code=CODE)
            raise RuntimeError("the caller's transaction fails after the approval")

    with pytest.raises(RuntimeError):
        approve_then_fail()

    request.refresh_from_db()
    assert request.status == PairingRequest.Status.PENDING
    assert not AllowlistEntry.objects.exists()
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db
def test_a_second_approval_is_refused_and_the_sender_is_told_once() -> None:
    request = PairingRequestFactory.create(code=CODE)
    pairing_request_approve(request_id=request.pk)

    with pytest.raises(PairingError, match=f"no pending pairing request with code {CODE}"):
        pairing_request_approve_code(channel="telegram", code=CODE)
    with pytest.raises(PairingError, match=f"pairing request {CODE} is already approved"):
        pairing_request_approve(request_id=request.pk)

    assert OutboundMessage.objects.count() == 1


@pytest.mark.django_db
def test_an_outbox_that_refuses_costs_the_notice_not_the_approval() -> None:
    account = ChannelAccountFactory.create(enabled=False)
    request = PairingRequestFactory.create(channel_account=account, code=CODE)

    approval = pairing_request_approve(request_id=request.pk)

    assert not approval.notified
    assert f"no enabled telegram account '{account.account_id}'" in approval.notice_error
    assert approval.request.status == PairingRequest.Status.APPROVED
    assert AllowlistEntry.objects.filter(sender_ref=request.sender_ref).exists()
    assert not OutboundMessage.objects.exists()


# --- wrong codes, channels and accounts ---------------------------------------------------
@pytest.mark.django_db
def test_a_wrong_or_expired_code_says_what_to_do() -> None:
    expired = PairingRequestFactory.create(
        code=CODE, expires_at=timezone.now() - timedelta(minutes=1)
    )
    expected = (
        f"no pending pairing request with code {CODE} for telegram; codes expire after "
        "1 hour: ask the sender to write again for a new one"
    )

    for code in (CODE, "BBBBBBBB"):
        with pytest.raises(PairingError) as caught:
            pairing_request_approve_code(channel="telegram", code=code)
        assert str(caught.value) == expected.replace(CODE, code)
    expired.refresh_from_db()
    assert expired.status == PairingRequest.Status.PENDING  # the sweep closes it, not this


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("channel", "account_id", "code", "message"),
    [
        ("telgram", None, CODE, "unknown channel 'telgram'; channels: telegram, "),
        ("discord", None, CODE, "no discord account is configured; add one in the admin"),
        ("telegram", "work", CODE, "there is no telegram account 'work'; telegram accounts: main"),
        (None, "main", CODE, "account 'main' needs its channel, e.g. telegram"),
        ("telegram", None, "K7MX0PQI", "'K7MX0PQI' is not a pairing code"),
        ("telegram", None, "", "'' is not a pairing code"),
    ],
)
def test_bad_channels_accounts_and_codes_are_named(
    channel: str | None, account_id: str | None, code: str, message: str
) -> None:
    ChannelAccountFactory.create(account_id="main")

    with pytest.raises(PairingError) as caught:
        pairing_request_approve_code(channel=channel, code=code, account_id=account_id)

    assert message in str(caught.value)


@pytest.mark.django_db
def test_the_account_narrows_the_lookup() -> None:
    request = PairingRequestFactory.create(code=CODE)
    ChannelAccountFactory.create(account_id="other")

    with pytest.raises(PairingError, match="for telegram account other"):
        pairing_request_approve_code(channel="telegram", account_id="other", code=CODE)
    approval = pairing_request_approve_code(
        channel="telegram", account_id=request.channel_account.account_id.upper(), code=CODE
    )
    assert approval.request.pk == request.pk


@pytest.mark.django_db
def test_five_wrong_codes_a_minute_then_every_attempt_waits() -> None:
    clock = _Clock()
    wrong_codes.clock = clock
    request = PairingRequestFactory.create(code=CODE)
    for _ in range(5):
        with pytest.raises(PairingError, match="no pending pairing request"):
            pairing_request_approve_code(channel="telegram", code=WRONG, approver="ops")

    clock.now += 15
    with pytest.raises(PairingRateLimitedError) as caught:
        pairing_request_approve_code(channel="telegram", code=CODE, approver="ops")
    assert str(caught.value) == (
        "too many wrong pairing codes (5 within 60 s); wait 45 s and try again"
    )
    assert caught.value.retry_after_s == 45
    # Malformed codes and other approvers are not held back; the right code is not spent.
    with pytest.raises(PairingError, match="is not a pairing code"):
        pairing_request_approve_code(channel="telegram", code="bad", approver="ops")
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.PENDING

    clock.now += 45
    assert pairing_request_approve_code(channel="telegram", code=CODE, approver="ops").notified


@pytest.mark.django_db
def test_the_limit_is_per_approver_and_channel() -> None:
    request = PairingRequestFactory.create(code=CODE)
    for _ in range(5):
        with pytest.raises(PairingError):
            pairing_request_approve_code(channel="telegram", code=WRONG, approver="guesser")
    with pytest.raises(PairingRateLimitedError):
        pairing_request_reject_code(channel="telegram", code=CODE, approver="guesser")

    assert pairing_request_approve_code(channel="telegram", code=CODE, approver="owner").notified
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.APPROVED


@pytest.mark.django_db
def test_listing_closes_expired_requests_and_returns_the_open_ones_oldest_first() -> None:
    account = ChannelAccountFactory.create(account_id="default")
    old = PairingRequestFactory.create(
        channel_account=account, created_at=timezone.now() - timedelta(minutes=30)
    )
    new = PairingRequestFactory.create(channel_account=account)
    gone = PairingRequestFactory.create(
        channel_account=account, expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert pairing_requests_pending(channel="telegram") == [old, new]
    gone.refresh_from_db()
    assert gone.status == PairingRequest.Status.EXPIRED
    assert pairing_requests_pending(channel="telegram", account_id="default") == [old, new]


# --- the admin action tells the sender too ------------------------------------------------
@pytest.mark.django_db
def test_the_admin_action_approves_through_the_same_service(admin_client: Client) -> None:
    told = PairingRequestFactory.create(sender_meta={"chatId": "9001"})
    disabled = ChannelAccountFactory.create(enabled=False)
    untold = PairingRequestFactory.create(channel_account=disabled)

    response = admin_client.post(
        admin_url(PairingRequest, "changelist"),
        {"action": "approve", "_selected_action": [told.pk, untold.pk]},
        follow=True,
    )

    notes = [str(m) for m in response.context["messages"]]
    assert notes[0] == "2 approved, 0 skipped"
    assert notes[1].startswith(
        f"Approved, but the sender was not told (they can write again now): {untold.code}: "
        f"no enabled telegram account '{disabled.account_id}'"
    )
    assert OutboundMessage.objects.get().chat_id == "9001"
    assert AllowlistEntry.objects.count() == 2


# --- the RPCs ---------------------------------------------------------------------------
TOKEN = "pairing-rpc-token-" + "0123456789abcdef" * 2


@pytest_asyncio.fixture
async def gateway_client(transactional_db: None) -> AsyncIterator[InProcessClient]:
    await sync_to_async(gateway_token_create)(name="ops", token=TOKEN, scopes=[gw_scopes.ADMIN])
    auth_rate_limiter.reset()
    async with InProcessClient() as client:
        hello = await client.connect(token=TOKEN, scopes=[gw_scopes.PAIRING])
        assert hello["ok"], hello
        yield client
    state.presence.clear()
    await release_worker_db_connections()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_pairing_list_and_approve_over_the_gateway(gateway_client: InProcessClient) -> None:
    request = await sync_to_async(PairingRequestFactory.create)(
        code=CODE, sender_ref="31337", sender_meta={"chatId": "31337", "username": "neo"}
    )
    account = await sync_to_async(lambda: request.channel_account)()

    listed = await gateway_client.call("pairing.list", {"channel": "telegram"})
    assert listed["ok"], listed
    (entry,) = listed["payload"]["requests"]
    assert listed["payload"]["channel"] == "telegram"
    assert {k: entry[k] for k in ("id", "code", "channel", "accountId", "meta")} == {
        "id": "31337",
        "code": CODE,
        "channel": "telegram",
        "accountId": account.account_id,
        "meta": {"chatId": "31337", "username": "neo"},
    }
    assert entry["createdAt"].endswith("Z")
    assert entry["expiresAt"].endswith("Z")

    approved = await gateway_client.call(
        "pairing.approve", {"channel": "telegram", "code": CODE.lower()}
    )
    assert approved["ok"], approved
    assert approved["payload"] == {
        "ok": True,
        "channel": "telegram",
        "accountId": account.account_id,
        "id": "31337",
        "code": CODE,
        "notified": True,
    }
    assert await sync_to_async(OutboundMessage.objects.filter(chat_id="31337").count)() == 1
    empty = await gateway_client.call("pairing.list", {})
    assert empty["payload"] == {"requests": []}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_pairing_approve_errors_over_the_gateway(gateway_client: InProcessClient) -> None:
    await sync_to_async(ChannelAccountFactory.create)()
    ids = itertools.count()

    async def approve(params: dict[str, Any]) -> dict[str, Any]:
        frame = await gateway_client.call("pairing.approve", params)
        assert not frame["ok"], frame
        error: dict[str, Any] = frame["error"]
        next(ids)
        return error

    missing = await approve({"code": CODE})
    assert missing["code"] == "INVALID_REQUEST"
    assert "channel" in missing["message"]
    wrong = await approve({"channel": "telegram", "code": WRONG})
    assert wrong["message"].startswith(f"no pending pairing request with code {WRONG}")
    for _ in range(4):
        await approve({"channel": "telegram", "code": WRONG})
    limited = await approve({"channel": "telegram", "code": CODE})
    assert limited["code"] == "UNAVAILABLE"
    assert limited["retryable"] is True
    assert 0 < limited["retryAfterMs"] <= 60_000
    assert limited["message"].startswith("too many wrong pairing codes")
    unknown = await gateway_client.call("pairing.list", {"channel": "irc"})
    assert not unknown["ok"]
    assert unknown["error"]["message"].startswith("unknown channel 'irc'")
