"""Admin of the channels app: a form per kind with a connector, a write-only bot token
checked with getMe before it is stored, the account's live state, flat query counts."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from channels_app.models import ChannelAccount, ChannelKind
from channels_app.tests.factories import (
    ChannelAccountFactory,
    InboundMessageFactory,
    OutboundMessageFactory,
)
from core.fields import Undecryptable
from tests.admin_checks import admin_url, assert_add_and_change_load, assert_changelist_queries_flat
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.django_db

BOT_TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"
NEW_TOKEN = "7012345678:AAHrotatedSecretThatMustNeverShowUp_2"
REJECTED = "9912345678:AAHrejectedSecretThatMustNeverShowUp3"

_url = admin_url


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    """The fake Bot API, knowing the two good tokens (any other is rejected with 401)."""
    with FakeTelegramServer() as server:
        server.add_bot(BOT_TOKEN, username="support_bot")
        server.add_bot(NEW_TOKEN, username="support_bot")
        yield server


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _form(account: ChannelAccount | None = None, **overrides: str) -> dict[str, str]:
    data = {
        "channel": "telegram",
        "accountId": account.account_id if account else "default",
        "name": account.name if account else "",
        "enabled": "on",
        "apiRoot": account.api_root if account else "",
        "webhookUrl": "",
        "botToken": "",
        "webhookSecret": "",
        "dmPolicy": "pairing",
        "allowFrom": "",
        "groupPolicy": "allowlist",
        "groupAllowFrom": "",
        "groups": "",
        "requireMention": "on",
    }
    data.update(overrides)
    return data


def _account(tg: FakeTelegramServer | None = None, **kwargs: Any) -> ChannelAccount:
    kwargs.setdefault("credentials", {"botToken": BOT_TOKEN})
    kwargs.setdefault("account_id", "default")
    if tg is not None:
        kwargs.setdefault("api_root", tg.root_url)
    return ChannelAccountFactory.create(**kwargs)


def _change(client: Client, account: ChannelAccount, **overrides: str) -> Any:
    return client.post(_url(ChannelAccount, "change", account.pk), _form(account, **overrides))


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


# --- secrets are write-only --------------------------------------------------------------
def test_change_page_never_contains_the_bot_token(admin_client: Client) -> None:
    account = _account(credentials={"botToken": BOT_TOKEN, "webhookSecret": "hook-secret-1"})

    html = admin_client.get(_url(ChannelAccount, "change", account.pk)).content.decode()

    assert BOT_TOKEN not in html
    assert "AAHsecretPart" not in html
    assert "7012345678" not in html
    assert "hook-secret-1" not in html
    assert "<code>botToken</code>: ••••xyzW" in html
    assert 'type="password" name="botToken"' in html


def test_short_secrets_are_fully_masked(admin_client: Client) -> None:
    account = _account(credentials={"pin": "975310", "port": 443})

    html = admin_client.get(_url(ChannelAccount, "change", account.pk)).content.decode()

    assert "<code>pin</code>: ••••<" in html
    assert "<code>port</code>: ••••<" in html
    assert "5310" not in html


def test_account_without_credentials_says_not_set(admin_client: Client) -> None:
    account = _account(credentials={})

    html = admin_client.get(_url(ChannelAccount, "change", account.pk)).content.decode()

    assert "not set" in html


def test_a_blank_token_keeps_the_stored_one_without_asking_telegram(admin_client: Client) -> None:
    account = _account(api_root=_closed_port_url())  # no server: a check would fail

    response = _change(admin_client, account, name="Renamed")

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "Renamed"
    assert account.credentials == {"botToken": BOT_TOKEN}


def test_a_new_token_is_checked_with_get_me_then_stored(
    admin_client: Client, tg: FakeTelegramServer
) -> None:
    account = _account(tg)
    ChannelAccount.objects.filter(pk=account.pk).update(
        failed_at=timezone.now(), last_error="rejected"
    )

    response = _change(admin_client, account, botToken=NEW_TOKEN)

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.credentials == {"botToken": NEW_TOKEN}
    assert (account.bot_username, account.failed_at, account.last_error) == (
        "support_bot",
        None,
        "",
    )


def test_a_token_telegram_rejects_is_a_form_error_and_nothing_is_stored(
    admin_client: Client, tg: FakeTelegramServer
) -> None:
    account = _account(tg)

    response = _change(admin_client, account, botToken=REJECTED, name="Renamed")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Telegram rejected the bot token" in html
    assert "REJECTED" not in html.upper().replace("TELEGRAM REJECTED", "")
    assert "rejectedSecret" not in html
    assert BOT_TOKEN not in html
    account.refresh_from_db()
    assert (account.credentials, account.name, account.failed_at) == (
        {"botToken": BOT_TOKEN},
        account.name,
        None,
    )


def test_an_unreachable_telegram_is_a_form_error_too(admin_client: Client) -> None:
    account = _account(api_root=_closed_port_url())

    response = _change(admin_client, account, botToken=NEW_TOKEN)

    assert response.status_code == 200
    assert "could not check the bot token" in response.content.decode()
    account.refresh_from_db()
    assert account.credentials == {"botToken": BOT_TOKEN}


def test_a_token_of_the_wrong_shape_is_refused_before_any_check(admin_client: Client) -> None:
    account = _account(api_root=_closed_port_url())

    response = _change(admin_client, account, botToken="123:SECRETVALUE")

    html = response.content.decode()
    assert "does not look like a bot token" in html
    assert "SECRETVALUE" not in html


def test_undecryptable_credentials_are_reported_and_must_be_reentered(
    admin_client: Client, tg: FakeTelegramServer
) -> None:
    account = _account(tg)
    # Ciphertext no configured key opens, as after the encryption key changed.
    ChannelAccount.objects.filter(pk=account.pk).update(
        credentials=Undecryptable("gAAAAABnot-a-token-for-this-key")
    )
    url = _url(ChannelAccount, "change", account.pk)

    page = admin_client.get(url).content.decode()
    blank = _change(admin_client, account)
    fixed = _change(admin_client, account, botToken=BOT_TOKEN)

    assert "cannot be decrypted: encryption key changed" in page
    assert "Enter the bot token: the stored one cannot be decrypted" in blank.content.decode()
    assert fixed.status_code == 302
    account.refresh_from_db()
    assert account.credentials == {"botToken": BOT_TOKEN}


def test_the_webhook_secret_can_be_removed(admin_client: Client) -> None:
    account = _account(credentials={"botToken": BOT_TOKEN, "webhookSecret": "abc"})

    response = _change(admin_client, account, webhookSecret_remove="on")

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.credentials == {"botToken": BOT_TOKEN}


def test_saving_does_not_overwrite_the_pollers_cursor(admin_client: Client) -> None:
    account = _account()
    # The poller advances the cursor while the operator has the form open.
    ChannelAccount.objects.filter(pk=account.pk).update(cursor="1234")

    _change(admin_client, account, name="Renamed")

    account.refresh_from_db()
    assert account.cursor == "1234"
    assert account.name == "Renamed"


# --- adding ------------------------------------------------------------------------------
def test_add_account_with_a_checked_token(admin_client: Client, tg: FakeTelegramServer) -> None:
    response = admin_client.post(
        _url(ChannelAccount, "add"),
        _form(
            accountId="support", botToken=BOT_TOKEN, apiRoot=tg.root_url, allowFrom="123, @alice"
        ),
    )

    assert response.status_code == 302, response.content.decode()[-3000:]
    account = ChannelAccount.objects.get(account_id="support")
    assert account.credentials == {"botToken": BOT_TOKEN}
    assert (account.kind, account.bot_username) == ("telegram", "support_bot")
    assert account.allow_from == ["123", "@alice"]


def test_add_needs_a_token_and_a_new_account_id(admin_client: Client) -> None:
    _account(account_id="support")

    missing = admin_client.post(_url(ChannelAccount, "add"), _form(accountId="other"))
    taken = admin_client.post(
        _url(ChannelAccount, "add"), _form(accountId="support", botToken=BOT_TOKEN)
    )

    assert "Enter the bot token: none is stored." in missing.content.decode()
    assert "telegram:support exists already; edit that one." in taken.content.decode()
    assert ChannelAccount.objects.count() == 1


def test_only_kinds_with_a_connector_are_offered(admin_client: Client) -> None:
    html = admin_client.get(_url(ChannelAccount, "add")).content.decode()

    assert '<option value="telegram" selected>telegram</option>' in html
    for kind in ("discord", "slack", "whatsapp", "signal", "webchat"):
        assert f'<option value="{kind}"' not in html


def test_an_old_account_without_a_connector_is_shown_not_edited(admin_client: Client) -> None:
    account = _account(kind=ChannelKind.DISCORD, account_id="old")
    url = _url(ChannelAccount, "change", account.pk)

    html = admin_client.get(url).content.decode()
    response = admin_client.post(url, {"name": "x"})

    assert "not used: no connector for discord" in html
    assert 'name="_save"' not in html
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.name != "x"


# --- access policy -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "field_error"),
    [
        ({"dmPolicy": "open"}, 'confirm it by adding "*" to channels.telegram.allowFrom'),
        ({"allowFrom": '["123"'}, "This is not a valid JSON list"),
        ({"allowFrom": "two words"}, "no spaces"),
        ({"groups": '{"-100": '}, "This is not valid JSON"),
        ({"groups": '{"lobby": {}}'}, "Telegram group ids are numbers"),
        ({"groups": '{"-100": {"mention": false}}'}, "did you mean channels.telegram.groups.-100"),
        ({"apiRoot": "localhost:8081"}, "channels.telegram.apiRoot is not an http(s) URL"),
        ({"webhookUrl": "https://bot.example.com/hook"}, "webhookUrl needs"),
    ],
)
def test_bad_access_settings_are_form_errors(
    admin_client: Client, overrides: dict[str, str], field_error: str
) -> None:
    account = _account()

    response = _change(admin_client, account, **overrides)

    assert response.status_code == 200
    assert field_error in response.content.decode().replace("&quot;", '"')
    account.refresh_from_db()
    assert account.dm_policy == "pairing"


def test_groups_and_allow_lists_are_saved(admin_client: Client) -> None:
    account = _account()

    response = _change(
        admin_client,
        account,
        dmPolicy="open",
        allowFrom='["*"]',
        groupAllowFrom="42",
        groups='{"-1001234": {"requireMention": false}, "*": {}}',
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.dm_policy, account.allow_from, account.group_allow_from) == (
        "open",
        ["*"],
        ["42"],
    )
    assert account.groups == {"-1001234": {"requireMention": False}, "*": {}}
    page = admin_client.get(_url(ChannelAccount, "change", account.pk)).content.decode()
    assert "-1001234" in page  # shown back for editing


# --- live state --------------------------------------------------------------------------
def test_the_list_shows_each_accounts_live_state(admin_client: Client) -> None:
    now = timezone.now()
    _account(
        account_id="polling",
        poll_lease_owner="p",
        poll_lease_expires_at=now + timedelta(seconds=60),
    )
    _account(
        account_id="failed",
        failed_at=now,
        last_error="Telegram rejected the bot token (401 Unauthorized)",
    )
    _account(account_id="waiting", poll_failures=2, poll_retry_at=now + timedelta(seconds=30))
    _account(
        account_id="hooked", mode=ChannelAccount.Mode.WEBHOOK, bot_username="hook_bot", bot_id="5"
    )
    _account(account_id="off", enabled=False)

    html = admin_client.get(_url(ChannelAccount, "changelist")).content.decode()

    assert "polling" in html
    assert "failed: Telegram rejected the bot token (401 Unauthorized)" in html
    assert "backing off after 2 error(s)" in html
    assert "webhook" in html
    assert "@hook_bot (5)" in html
    assert "disabled" in html
    assert BOT_TOKEN not in html
