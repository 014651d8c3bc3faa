"""Secrets are replaced wherever text leaves the gateway for a model or a client."""

from __future__ import annotations

from typing import Any

import pytest

from agents import apps as agents_apps
from agents.models import ModelProvider
from channels_app import apps as channels_apps
from channels_app.models import ChannelAccount
from core import redact, ttlcache
from core.fields import Undecryptable

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh() -> None:
    redact.forget()


def test_known_secrets_come_from_env_admin_rows_and_channel_credentials(settings: Any) -> None:
    settings.OPENAI_API_KEY = "sk-env-openai-0123456789"
    ModelProvider.objects.create(provider="openai", api="openai-chat", api_key="sk-row-abcdefgh123")
    ChannelAccount.objects.create(
        kind="telegram", account_id="default", credentials={"bot_token": "123456:AAbbCCddEEff"}
    )
    text = "keys: sk-env-openai-0123456789 sk-row-abcdefgh123 123456:AAbbCCddEEff short"
    assert redact.redact(text) == "keys: [redacted] [redacted] [redacted] short"


def test_short_values_are_not_treated_as_secrets(settings: Any) -> None:
    settings.OPENAI_API_KEY = "abc"
    assert redact.redact("abc abc") == "abc abc"


def test_a_key_added_later_is_seen_after_forget(settings: Any) -> None:
    assert redact.redact("sk-late-key-987654321") == "sk-late-key-987654321"
    ModelProvider.objects.create(
        provider="openai", api="openai-chat", api_key="sk-late-key-987654321"
    )
    # agents.apps connects post_save to redact.forget(): no waiting for the cache to expire.
    assert redact.redact("sk-late-key-987654321") == "[redacted]"


def test_a_registered_source_adds_its_secrets_nested_or_not() -> None:
    values: list[object] = [{"token": "source-secret-1", "more": ["source-secret-2"]}]

    def source() -> list[object]:
        return values

    try:
        redact.register_secret_source(source)
        redact.register_secret_source(source)  # once per function
        assert redact._sources.count(source) == 1
        assert redact.redact("a source-secret-1 b source-secret-2") == "a [redacted] b [redacted]"
        values.append("source-secret-3")
        redact.forget()
        assert redact.redact("source-secret-3") == "[redacted]"
    finally:
        redact._sources.remove(source)


def test_the_apps_register_their_sources_at_start_up() -> None:
    assert agents_apps.provider_api_keys in redact._sources
    assert channels_apps.channel_credentials in redact._sources


def test_values_that_cannot_be_decrypted_are_not_secrets() -> None:
    def source() -> list[object]:
        return [
            Undecryptable("gAAAAA-ciphertext-0123"),
            {"bot_token": Undecryptable("gAAAAA-x-0123")},
        ]

    try:
        redact.register_secret_source(source)
        assert redact.redact("gAAAAA-ciphertext-0123 gAAAAA-x-0123") == (
            "gAAAAA-ciphertext-0123 gAAAAA-x-0123"
        )
    finally:
        redact._sources.remove(source)


def test_a_channel_account_saved_is_seen_at_once() -> None:
    assert redact.redact("987654:ZZyyXXwwVV") == "987654:ZZyyXXwwVV"
    ChannelAccount.objects.create(
        kind="telegram", account_id="default", credentials={"bot_token": "987654:ZZyyXXwwVV"}
    )
    # channels_app.apps connects post_save to redact.forget, as agents.apps does.
    assert redact.redact("987654:ZZyyXXwwVV") == "[redacted]"


def test_the_cache_is_a_ttl_cache_that_forget_all_empties() -> None:
    assert redact.redact("sk-cached-key-555555555") == "sk-cached-key-555555555"
    ModelProvider.objects.bulk_create(  # no signal: the cache still holds the old set
        [ModelProvider(provider="openai", api="openai-chat", api_key="sk-cached-key-555555555")]
    )
    assert redact.redact("sk-cached-key-555555555") == "sk-cached-key-555555555"
    ttlcache.forget_all()
    assert redact.redact("sk-cached-key-555555555") == "[redacted]"
