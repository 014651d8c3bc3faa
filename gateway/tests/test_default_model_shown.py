"""``config get`` shows the model that answers, as ``status`` and a turn see it."""

from __future__ import annotations

from typing import Any

import pytest

from agents.runtime import model_config
from gateway.catalog.config import config_snapshot
from gateway.management.commands.status import _model

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


def _shown() -> dict[str, Any]:
    return dict(config_snapshot()["config"]["agents"]["defaults"]["model"])


def test_no_provider_no_primary_and_status_says_why() -> None:
    assert _shown() == {}
    assert _model()["model"] is None
    with pytest.raises(model_config.NoModelConfiguredError):
        model_config.model_chain(agent=None)


def test_a_key_gives_the_same_model_everywhere(settings: Any) -> None:
    settings.OPENAI_API_KEY = "sk-0123456789"
    assert _shown() == {"primary": "openai/gpt-4o-mini"}
    assert _model()["model"] == "openai/gpt-4o-mini"
    settings.ANTHROPIC_API_KEY = "sk-ant-0123456789"
    assert _shown() == {"primary": "anthropic/claude-sonnet-4-6"}
    assert _model()["model"] == "anthropic/claude-sonnet-4-6"
