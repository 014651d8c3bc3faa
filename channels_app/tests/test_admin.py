"""Admin of the channels app: credentials are write-only, lists have flat query counts."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from channels_app.models import ChannelAccount, ChannelKind
from channels_app.tests.factories import (
    ChannelAccountFactory,
    InboundMessageFactory,
    OutboundMessageFactory,
)
from core.fields import Undecryptable
from tests.admin_checks import admin_url, assert_add_and_change_load, assert_changelist_queries_flat

pytestmark = pytest.mark.django_db

BOT_TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"


_url = admin_url


def _account_form(account: ChannelAccount, **overrides: str) -> dict[str, str]:
    data = {
        "kind": account.kind,
        "account_id": account.account_id,
        "name": account.name,
        "enabled": "on",
        "mode": account.mode,
        "credentials": "",
        "dm_policy": account.dm_policy,
        "allow_from": "[]",
        "group_policy": account.group_policy,
        "group_allow_from": "[]",
        "require_mention": "on",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("factory", "max_queries"),
    [
        pytest.param(ChannelAccountFactory, 5, id="channelaccount"),
        pytest.param(InboundMessageFactory, 7, id="inboundmessage"),
        pytest.param(OutboundMessageFactory, 7, id="outboundmessage"),
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
        pytest.param(ChannelAccountFactory, 200, id="channelaccount"),
        # The inbox and outbox are written by the pipeline only.
        pytest.param(InboundMessageFactory, 403, id="inboundmessage"),
        pytest.param(OutboundMessageFactory, 403, id="outboundmessage"),
    ],
)
def test_add_and_change_views_load(admin_client: Client, factory: Any, add_status: int) -> None:
    assert_add_and_change_load(admin_client, factory, add_status)


def test_change_page_never_contains_the_bot_token(admin_client: Client) -> None:
    account = ChannelAccountFactory.create(credentials={"bot_token": BOT_TOKEN})

    html = admin_client.get(_url(ChannelAccount, "change", account.pk)).content.decode()

    assert BOT_TOKEN not in html
    assert "AAHsecretPart" not in html
    assert "7012345678" not in html
    assert "<code>bot_token</code>: ••••xyzW" in html


def test_short_secrets_are_fully_masked(admin_client: Client) -> None:
    account = ChannelAccountFactory.create(credentials={"pin": "975310", "port": 443})

    html = admin_client.get(_url(ChannelAccount, "change", account.pk)).content.decode()

    assert "<code>pin</code>: ••••<" in html
    assert "<code>port</code>: ••••<" in html
    assert "5310" not in html


def test_account_without_credentials_says_not_set(admin_client: Client) -> None:
    account = ChannelAccountFactory.create(kind=ChannelKind.WEBCHAT, credentials={})

    html = admin_client.get(_url(ChannelAccount, "change", account.pk)).content.decode()

    assert "not set" in html


def test_blank_credentials_keep_the_stored_ones(admin_client: Client) -> None:
    account = ChannelAccountFactory.create(credentials={"bot_token": BOT_TOKEN})

    response = admin_client.post(
        _url(ChannelAccount, "change", account.pk), _account_form(account, name="Renamed")
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "Renamed"
    assert account.credentials == {"bot_token": BOT_TOKEN}


def test_new_credentials_replace_the_stored_ones(admin_client: Client) -> None:
    account = ChannelAccountFactory.create(credentials={"bot_token": BOT_TOKEN, "old": "x"})

    response = admin_client.post(
        _url(ChannelAccount, "change", account.pk),
        _account_form(account, credentials='{"bot_token": "999:NEW"}'),
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.credentials == {"bot_token": "999:NEW"}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        pytest.param('{"bot_token": 999:SECRETVALUE', "not valid JSON", id="bad-json"),
        pytest.param('["999:SECRETVALUE"]', "JSON object with named values", id="not-an-object"),
    ],
)
def test_bad_credentials_give_a_form_error_with_an_example(
    admin_client: Client, typed: str, expected: str
) -> None:
    account = ChannelAccountFactory.create(credentials={"bot_token": BOT_TOKEN})

    response = admin_client.post(
        _url(ChannelAccount, "change", account.pk), _account_form(account, credentials=typed)
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert expected in html
    assert "{&quot;bot_token&quot;: &quot;123:ABC&quot;}" in html
    # Neither the stored secret nor the one just typed is sent back.
    assert "SECRETVALUE" not in html
    assert BOT_TOKEN not in html
    account.refresh_from_db()
    assert account.credentials == {"bot_token": BOT_TOKEN}


def test_undecryptable_credentials_are_reported_and_must_be_reentered(
    admin_client: Client,
) -> None:
    account = ChannelAccountFactory.create()
    # Ciphertext no configured key opens, as after the encryption key changed.
    ChannelAccount.objects.filter(pk=account.pk).update(
        credentials=Undecryptable("gAAAAABnot-a-token-for-this-key")
    )
    url = _url(ChannelAccount, "change", account.pk)

    page = admin_client.get(url).content.decode()
    blank = admin_client.post(url, _account_form(account))
    fixed = admin_client.post(url, _account_form(account, credentials='{"bot_token": "1:A"}'))

    assert "cannot be decrypted: encryption key changed" in page
    assert "Credentials cannot be read; re-enter them." in blank.content.decode()
    assert fixed.status_code == 302
    account.refresh_from_db()
    assert account.credentials == {"bot_token": "1:A"}


def test_saving_does_not_overwrite_the_pollers_cursor(admin_client: Client) -> None:
    account = ChannelAccountFactory.create()
    # The poller advances the cursor while the operator has the form open.
    ChannelAccount.objects.filter(pk=account.pk).update(cursor="1234")

    admin_client.post(
        _url(ChannelAccount, "change", account.pk), _account_form(account, name="Renamed")
    )

    account.refresh_from_db()
    assert account.cursor == "1234"
    assert account.name == "Renamed"


def test_add_account_with_credentials(admin_client: Client) -> None:
    template = ChannelAccountFactory.build(account_id="support")

    response = admin_client.post(
        _url(ChannelAccount, "add"),
        _account_form(template, credentials=f'{{"bot_token": "{BOT_TOKEN}"}}'),
    )

    assert response.status_code == 302
    account = ChannelAccount.objects.get(account_id="support")
    assert account.credentials == {"bot_token": BOT_TOKEN}


def test_open_dm_policy_needs_a_star(admin_client: Client) -> None:
    account = ChannelAccountFactory.create()

    response = admin_client.post(
        _url(ChannelAccount, "change", account.pk),
        _account_form(account, dm_policy=ChannelAccount.DmPolicy.OPEN),
    )

    assert response.status_code == 200
    assert "confirm it by adding" in response.content.decode()
