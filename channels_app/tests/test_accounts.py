"""The channel account service: one writer of an account's configuration, its secrets
merged and encrypted, the poller's columns left alone, TELEGRAM_BOT_TOKEN as OpenClaw."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_app.connectors.base import BotIdentity
from channels_app.models import ChannelAccount, ChannelKind
from channels_app.services.accounts import (
    ChannelConfigError,
    account_config,
    channel_account_draft,
    channel_account_upsert,
)
from channels_app.services.environment import channel_env_tokens_sync
from channels_app.tests.factories import ChannelAccountFactory
from core.fields import Undecryptable

pytestmark = pytest.mark.django_db

TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"
ROTATED = "7012345678:AAHrotatedSecretThatMustNeverShowUp_2"
OTHER_BOT = "8012345678:AAHanotherSecretThatMustNeverShowUp_1"
ENV = "TELEGRAM_BOT_TOKEN"


def _upsert(account_id: str = "default", **changes: object) -> ChannelAccount:
    return channel_account_upsert(kind="telegram", account_id=account_id, changes=changes)


def test_secrets_are_stored_encrypted_and_merged() -> None:
    _upsert(botToken=TOKEN)
    _upsert(webhookSecret="hook-secret")

    account = ChannelAccount.objects.get()
    assert account.credentials == {"botToken": TOKEN, "webhookSecret": "hook-secret"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM channels_app_channelaccount")
        raw = cursor.fetchone()[0]
    assert TOKEN not in raw
    assert "AAHsecret" not in raw


def test_only_changed_columns_are_written_so_the_pollers_are_kept() -> None:
    account = _upsert(botToken=TOKEN)
    # The poller advances the cursor and holds the lease meanwhile.
    until = timezone.now() + timedelta(seconds=60)
    ChannelAccount.objects.filter(pk=account.pk).update(
        cursor="42", poll_lease_owner="poller-1", poll_lease_expires_at=until
    )

    with CaptureQueriesContext(connection) as queries:
        _upsert(dmPolicy="allowlist", allowFrom=["1"])
    update = next(q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE"))

    assert "cursor" not in update
    assert "credentials" not in update
    account.refresh_from_db()
    assert (account.cursor, account.poll_lease_owner, account.dm_policy) == (
        "42",
        "poller-1",
        "allowlist",
    )


def test_a_new_token_of_the_same_bot_clears_the_failure_and_keeps_the_offset() -> None:
    account = _upsert(botToken=TOKEN)
    ChannelAccount.objects.filter(pk=account.pk).update(
        cursor="42",
        bot_id="7012345678",
        bot_username="old_bot",
        failed_at=timezone.now(),
        last_error="Telegram rejected the bot token (401 Unauthorized)",
        poll_failures=3,
        poll_retry_at=timezone.now(),
        poll_lease_owner="poller-1",
    )

    _upsert(botToken=ROTATED)

    account.refresh_from_db()
    assert (account.failed_at, account.last_error, account.poll_failures) == (None, "", 0)
    assert (account.poll_retry_at, account.poll_lease_owner) == (None, "")
    # Same bot (the id before the colon): its update offset and identity still hold.
    assert (account.cursor, account.bot_username) == ("42", "old_bot")


def test_a_token_of_another_bot_starts_its_updates_over() -> None:
    account = _upsert(botToken=TOKEN)
    ChannelAccount.objects.filter(pk=account.pk).update(
        cursor="42", bot_id="7012345678", bot_username="old_bot"
    )

    _upsert(botToken=OTHER_BOT)

    account.refresh_from_db()
    assert (account.cursor, account.bot_id, account.bot_username) == ("", "", "")


def test_an_identity_from_a_check_is_stored_with_the_change() -> None:
    account = _upsert(botToken=TOKEN)
    ChannelAccount.objects.filter(pk=account.pk).update(failed_at=timezone.now(), last_error="x")

    channel_account_upsert(
        kind="telegram",
        changes={"name": "Support"},
        identity=BotIdentity(id="7012345678", username="support_bot", name="Support"),
    )

    account.refresh_from_db()
    assert (account.bot_username, account.failed_at, account.last_error) == (
        "support_bot",
        None,
        "",
    )


def test_a_draft_writes_nothing() -> None:
    draft = channel_account_draft(kind="telegram", account_id="new", changes={"botToken": TOKEN})

    assert draft.created
    assert draft.config.credentials == {"botToken": TOKEN}
    assert ChannelAccount.objects.count() == 0


def test_account_config_maps_the_legacy_token_name() -> None:
    account = ChannelAccountFactory.create(
        credentials={"bot_token": TOKEN, "tokenSource": "env", "other": "x"}, api_root="http://a:1"
    )

    config = account_config(account)

    assert dict(config.credentials) == {"botToken": TOKEN}
    assert (config.kind, config.account_id, config.api_root) == (
        "telegram",
        account.account_id,
        "http://a:1",
    )


def test_a_legacy_token_is_renamed_when_the_secrets_change() -> None:
    ChannelAccountFactory.create(account_id="default", credentials={"bot_token": TOKEN})
    _upsert(webhookSecret="abc")
    assert ChannelAccount.objects.get().credentials == {"botToken": TOKEN, "webhookSecret": "abc"}


def test_undecryptable_credentials_ask_for_the_token_again() -> None:
    account = ChannelAccountFactory.create(account_id="default")
    ChannelAccount.objects.filter(pk=account.pk).update(credentials=Undecryptable("gAAAAAnope"))

    # Other keys still change; the secrets cannot be merged until the token is re-entered.
    _upsert(name="still editable")
    with pytest.raises(
        ChannelConfigError, match=r"cannot be decrypted .* set channels\.telegram\.botToken again"
    ):
        _upsert(webhookSecret="abc")
    _upsert(botToken=TOKEN)
    assert ChannelAccount.objects.get().credentials == {"botToken": TOKEN}


def test_kinds_without_a_connector_are_refused() -> None:
    with pytest.raises(ChannelConfigError) as caught:
        channel_account_upsert(kind=ChannelKind.DISCORD, changes={"enabled": True})
    assert caught.value.message == (
        "channels.discord: no connector for discord; channels with a connector: telegram"
    )


# --- TELEGRAM_BOT_TOKEN ------------------------------------------------------------------
def test_the_environment_token_configures_the_default_account() -> None:
    lines = channel_env_tokens_sync(environ={ENV: TOKEN})

    assert lines == ["channels.telegram: bot token from TELEGRAM_BOT_TOKEN"]
    account = ChannelAccount.objects.get(kind="telegram", account_id="default")
    assert account_config(account).credentials == {"botToken": TOKEN}
    assert account.credentials["tokenSource"] == "env"
    assert all(TOKEN not in line for line in lines)


def test_a_token_from_the_environment_follows_it() -> None:
    channel_env_tokens_sync(environ={ENV: TOKEN})

    channel_env_tokens_sync(environ={ENV: ROTATED})
    assert account_config(ChannelAccount.objects.get()).credentials == {"botToken": ROTATED}

    lines = channel_env_tokens_sync(environ={})
    assert lines == [
        "channels.telegram: TELEGRAM_BOT_TOKEN is no longer set; its bot token was removed"
    ]
    assert account_config(ChannelAccount.objects.get()).credentials == {}


def test_a_token_set_in_the_config_wins_and_a_line_says_so() -> None:
    _upsert(botToken=TOKEN)

    lines = channel_env_tokens_sync(environ={ENV: OTHER_BOT})

    assert lines == [
        "channels.telegram: TELEGRAM_BOT_TOKEN is ignored: channels.telegram.botToken is set in "
        "the config and wins (`manage.py config unset channels.telegram.botToken` to use "
        "TELEGRAM_BOT_TOKEN)"
    ]
    assert account_config(ChannelAccount.objects.get()).credentials == {"botToken": TOKEN}
    # Without the variable, a token from the config is left alone.
    assert channel_env_tokens_sync(environ={}) == []
    assert account_config(ChannelAccount.objects.get()).credentials == {"botToken": TOKEN}


def test_a_token_typed_in_the_config_takes_over_from_the_environment() -> None:
    channel_env_tokens_sync(environ={ENV: TOKEN})
    _upsert(botToken=ROTATED)

    assert "tokenSource" not in ChannelAccount.objects.get().credentials
    assert channel_env_tokens_sync(environ={}) == []


def test_a_malformed_environment_token_is_not_used() -> None:
    lines = channel_env_tokens_sync(environ={ENV: "123:not-a-token"})

    assert len(lines) == 1
    assert lines[0].startswith("channels.telegram: TELEGRAM_BOT_TOKEN is not used: ")
    assert "does not look like a bot token" in lines[0]
    assert "not-a-token" not in lines[0]
    assert ChannelAccount.objects.count() == 0


def test_no_variable_and_no_account_does_nothing() -> None:
    assert channel_env_tokens_sync(environ={}) == []
    assert ChannelAccount.objects.count() == 0
