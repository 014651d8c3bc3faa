"""Secrets are replaced wherever text leaves the gateway for a model or a client."""

from __future__ import annotations

from typing import Any

import pytest

from agents.models import ModelProvider
from channels_app.models import ChannelAccount
from core import redact

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
