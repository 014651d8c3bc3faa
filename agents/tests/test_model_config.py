"""Which model a turn uses, with which keys, and what models.list reports."""

from __future__ import annotations

from typing import Any

import pytest

from agents.models import Agent, ModelProvider
from agents.runtime import model_config
from agents.runtime.model_config import (
    NoModelConfiguredError,
    configured_models,
    default_model_ref,
    model_chain,
    profiles_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_env_keys(settings: Any) -> None:
    settings.OPENCLAW_MODEL = ""
    settings.OPENCLAW_MODEL_FALLBACKS = []
    settings.ANTHROPIC_API_KEY = ""
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_MODELS = []
    model_config.forget_profiles()


def test_nothing_configured_says_what_to_set() -> None:
    assert default_model_ref() is None
    with pytest.raises(NoModelConfiguredError, match="OPENAI_API_KEY or ANTHROPIC_API_KEY"):
        model_chain(agent=None)


def test_one_key_gives_a_sensible_model_of_its_provider(settings: Any) -> None:
    settings.ANTHROPIC_API_KEY = "sk-ant-0123456789"
    assert default_model_ref() == "anthropic/claude-sonnet-4-6"
    settings.ANTHROPIC_API_KEY = ""
    settings.OPENAI_API_KEY = "sk-0123456789"
    assert default_model_ref() == "openai/gpt-4o-mini"


def test_a_keyless_compatible_server_uses_its_first_listed_model(settings: Any) -> None:
    settings.OPENAI_BASE_URL = "http://127.0.0.1:11434/v1"
    settings.OPENAI_MODELS = ["llama3.2", "qwen2.5"]
    assert default_model_ref() == "openai/llama3.2"
    (profile,) = profiles_for("openai")
    assert (profile.id, profile.base_url) == ("openai:env", "http://127.0.0.1:11434/v1")


def test_an_admin_row_provides_a_provider_and_its_models() -> None:
    ModelProvider.objects.create(
        provider="ollama",
        api="openai-chat",
        base_url="http://127.0.0.1:11434/v1",
        model_ids=["llama3.2"],
    )
    assert default_model_ref() == "ollama/llama3.2"
    assert [p.id for p in profiles_for("ollama")] == [f"ollama:{ModelProvider.objects.get().pk}"]


def test_openclaw_model_wins_and_the_chain_adds_fallbacks(settings: Any) -> None:
    settings.OPENCLAW_MODEL = "openai/gpt-4o"
    settings.OPENCLAW_MODEL_FALLBACKS = ["anthropic/claude-haiku-4-5"]
    agent = Agent.objects.create(slug="main", is_default=True, model_fallbacks=["openai/gpt-4.1"])
    assert model_chain(agent=agent) == [
        "openai/gpt-4o",
        "openai/gpt-4.1",
        "anthropic/claude-haiku-4-5",
    ]
    agent.model_primary = "anthropic/claude-opus-4-8"
    assert model_chain(agent=agent, session_override="openai/gpt-5.5")[0] == "openai/gpt-5.5"
    assert model_chain(agent=agent)[0] == "anthropic/claude-opus-4-8"


def test_disabled_and_undecryptable_rows_are_skipped() -> None:
    from core.fields import Undecryptable

    ModelProvider.objects.create(
        provider="openai", api="openai-chat", api_key="sk-a-123456789", enabled=False
    )
    row = ModelProvider.objects.create(
        provider="openai", api="openai-chat", api_key="sk-b-123456789"
    )
    from django.db import connection

    with connection.cursor() as cursor:  # a ciphertext of a lost key
        cursor.execute(
            "UPDATE agents_modelprovider SET api_key = %s WHERE id = %s",
            ["gAAAAABnot-a-token-of-our-key", row.pk],
        )
    fetched = ModelProvider.objects.get(pk=row.pk)
    assert isinstance(fetched.api_key, Undecryptable)
    assert profiles_for("openai") == []


def test_models_list_reports_the_default_first_with_context_windows(settings: Any) -> None:
    settings.OPENAI_API_KEY = "sk-0123456789"
    Agent.objects.create(slug="main", is_default=True)
    models = configured_models()
    assert models[0] == {
        "id": "gpt-4o-mini",
        "name": "GPT-4o mini",
        "provider": "openai",
        "contextWindow": 128_000,
        "tags": ["default"],
    }
    refs = [f"{m['provider']}/{m['id']}" for m in models]
    assert "openai/gpt-4.1" in refs
    assert refs[-1] == "placeholder/echo"
    assert not any(m["provider"] == "anthropic" for m in models)
