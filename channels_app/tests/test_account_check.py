"""``channel_account_check``: the real python-telegram-bot client asks the fake Bot API
(getMe) whether the stored token is accepted, and the account records the answer."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.utils import timezone

from channels_app.connectors.base import ConnectorError
from channels_app.models import ChannelAccount
from channels_app.services.accounts import (
    ChannelConfigError,
    account_config,
    channel_account_check,
    channel_credentials_check,
)
from channels_app.tests.factories import ChannelAccountFactory
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.django_db

TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"
REJECTED = "9912345678:AAHrejectedSecretThatMustNeverShowUp3"


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as server:
        server.add_bot(TOKEN, username="support_bot")
        yield server


def _account(root: str, token: str = TOKEN) -> ChannelAccount:
    return ChannelAccountFactory.create(
        account_id="default", credentials={"botToken": token}, api_root=root
    )


def test_an_accepted_token_stores_the_bot_and_clears_the_failure(tg: FakeTelegramServer) -> None:
    account = _account(tg.root_url)
    ChannelAccount.objects.filter(pk=account.pk).update(
        failed_at=timezone.now(), last_error="old", poll_failures=4
    )
    account.refresh_from_db()

    identity = channel_account_check(account=account)

    assert identity is not None
    assert identity.username == "support_bot"
    account.refresh_from_db()
    assert (account.bot_id, account.bot_username) == (identity.id, "support_bot")
    assert (account.failed_at, account.last_error, account.poll_failures) == (None, "", 0)


def test_a_rejected_token_marks_the_account_failed_with_the_reason(tg: FakeTelegramServer) -> None:
    account = _account(tg.root_url, REJECTED)

    assert channel_account_check(account=account) is None

    account.refresh_from_db()
    assert account.failed_at is not None
    assert "Telegram rejected the bot token" in account.last_error
    assert "rejectedSecret" not in account.last_error


def test_an_unreachable_platform_is_raised_and_not_stored_as_failed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    account = _account(closed)

    with pytest.raises(ConnectorError) as caught:
        channel_account_check(account=account)

    assert not caught.value.permanent
    account.refresh_from_db()
    assert account.failed_at is None


def test_credentials_are_checked_before_anything_is_stored(tg: FakeTelegramServer) -> None:
    good = account_config(ChannelAccountFactory.build(
        account_id="x", credentials={"botToken": TOKEN}, api_root=tg.root_url
    ))  # fmt: skip
    bad = account_config(ChannelAccountFactory.build(
        account_id="x", credentials={"botToken": REJECTED}, api_root=tg.root_url
    ))  # fmt: skip

    assert channel_credentials_check(good).username == "support_bot"
    with pytest.raises(ChannelConfigError) as caught:
        channel_credentials_check(bad)
    assert caught.value.key == "botToken"
    assert caught.value.message.startswith("channels.telegram.accounts.x: Telegram rejected")
    assert ChannelAccount.objects.count() == 0
