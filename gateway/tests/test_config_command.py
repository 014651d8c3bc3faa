"""``manage.py config``: reading and setting the configuration by OpenClaw config path."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.models import Agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def agents() -> tuple[Agent, Agent]:
    return (
        Agent.objects.create(slug="main", is_default=True),
        Agent.objects.create(slug="ops"),
    )


def test_manage_py_config_set_and_get(agents: tuple[Agent, Agent]) -> None:
    out = StringIO()
    call_command("config", "set", "agents.defaults.model.primary", "openai/gpt-4o-mini", stdout=out)
    assert "applies from the next turn" in out.getvalue()
    out = StringIO()
    call_command("config", "get", "agents.defaults.model.primary", stdout=out)
    assert json.loads(out.getvalue()) == "openai/gpt-4o-mini"
    call_command("config", "set", "agents.list[1].model.fallbacks", '["a/b", "c/d"]')
    assert Agent.objects.get(slug="ops").model_fallbacks == ["a/b", "c/d"]
    with pytest.raises(CommandError, match="cannot set"):
        call_command("config", "set", "gateway.mode", "remote")
    with pytest.raises(CommandError, match="not in the configuration"):
        call_command("config", "get", "agents.nothing")
