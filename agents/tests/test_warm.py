"""The start-up warm-up: the default agent's provider clients are built before the first
turn, with no request sent; nothing happens without a model or with it turned off."""

from __future__ import annotations

from typing import Any

import pytest

from agents.models import Agent
from agents.providers import _common
from agents.providers.openai import base as openai_base
from agents.runtime import model_config, warm

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


def _cached(cache: _common.ClientCache[Any]) -> set[str]:
    return {key[0] for key in cache._clients}


def test_the_default_agents_providers_get_their_clients_built(settings: Any) -> None:
    # An unreachable address: a warm-up that sent anything would fail here.
    settings.OPENAI_API_KEY = "sk-warm-0123456789"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.ANTHROPIC_API_KEY = "sk-ant-warm-0123456789"
    Agent.objects.create(
        slug="main",
        name="Main",
        is_default=True,
        model_primary="openai/gpt-4o-mini",
        model_fallbacks=["anthropic/claude-sonnet-4-6"],
    )
    openai_base._clients._clients.clear()
    assert warm.warm_model_clients() == ["openai:env", "anthropic:env"]
    assert "openai:env" in _cached(openai_base._clients)


def test_no_model_configured_warms_nothing() -> None:
    assert warm.warm_model_clients() == []


def test_the_background_thread_runs_once_up_and_can_be_turned_off(settings: Any) -> None:
    settings.OPENAI_API_KEY = "sk-warm-0123456789"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    openai_base._clients._clients.clear()
    settings.WARM_START = False
    assert warm.warm_in_background() is None
    settings.WARM_START = True
    thread = warm.warm_in_background()
    assert thread is not None
    thread.join(timeout=30)
    assert "openai:env" in _cached(openai_base._clients)


def test_a_failing_warm_up_is_harmless(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    settings.OPENAI_API_KEY = "sk-warm-0123456789"

    def boom() -> list[str]:
        raise RuntimeError("no luck")

    monkeypatch.setattr(warm, "warm_model_clients", boom)
    thread = warm.warm_in_background()
    assert thread is not None
    thread.join(timeout=30)  # no exception escapes the thread


def test_the_warm_up_loads_the_tool_modules(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from agents.tools import registry

    monkeypatch.setattr(registry, "_loaded", False)
    Agent.objects.create(slug="main", name="Main", is_default=True, model_primary="openai/x")
    settings.OPENAI_API_KEY = "sk-warm-0123456789"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    warm.warm_model_clients()
    assert registry._loaded


def test_the_sample_events_decode_as_the_sdks_typed_events() -> None:
    """Each sample is a real wire shape: the SDK decodes it to its typed event, not to a
    loose fallback, so the warm-up builds the models a turn's stream uses."""
    from anthropic._models import construct_type as anthropic_construct
    from anthropic.types import RawMessageStreamEvent
    from openai._models import construct_type as openai_construct
    from openai.types.chat import ChatCompletionChunk
    from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall
    from openai.types.responses import ResponseStreamEvent

    from agents.providers import warm_samples

    first = openai_construct(type_=ChatCompletionChunk, value=warm_samples.CHAT_CHUNKS[0])
    assert isinstance(first, ChatCompletionChunk)
    assert isinstance(first.choices[0].delta.tool_calls[0], ChoiceDeltaToolCall)  # type: ignore[index]

    def event_names(construct: Any, type_: Any, samples: Any) -> list[str]:
        return [type(construct(type_=type_, value=s)).__name__ for s in samples]

    assert event_names(openai_construct, ResponseStreamEvent, warm_samples.RESPONSES_EVENTS) == [
        "ResponseCreatedEvent",
        "ResponseTextDeltaEvent",
        "ResponseOutputItemAddedEvent",
        "ResponseFunctionCallArgumentsDeltaEvent",
        "ResponseCompletedEvent",
    ]
    assert event_names(
        anthropic_construct, RawMessageStreamEvent, warm_samples.ANTHROPIC_EVENTS
    ) == [
        "RawMessageStartEvent",
        "RawContentBlockStartEvent",
        "RawContentBlockDeltaEvent",
        "RawContentBlockStartEvent",
        "RawContentBlockDeltaEvent",
        "RawContentBlockStopEvent",
        "RawMessageDeltaEvent",
        "RawMessageStopEvent",
    ]
    assert (
        warm_samples.decode_samples(openai_construct, ChatCompletionChunk, warm_samples.CHAT_CHUNKS)
        == 2
    )
