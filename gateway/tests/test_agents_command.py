"""``manage.py agents list|add|remove``: text and --json, exit 2 on bad input."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.models import Agent, RoutingRule

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("agents", *args, stdout=out)
    return out.getvalue()


def test_add_list_and_remove() -> None:
    first = json.loads(_run("--json", "add", "main", "--name", "Main"))
    assert (first["id"], first["default"]) == ("main", True)  # the only one: the default
    assert _run("add", "ops", "--model", "openai/gpt-4o-mini", "--sandbox", "all").strip() == (
        "Added agent ops"
    )
    listed = json.loads(_run("--json", "list"))["agents"]
    assert [(a["id"], a["default"], a["sandboxMode"]) for a in listed] == [
        ("main", True, "non-main"),
        ("ops", False, "all"),
    ]
    assert "main (default)" in _run("list")
    assert json.loads(_run("--json", "remove", "ops")) == {"removed": "ops"}
    assert list(Agent.objects.values_list("slug", flat=True)) == ["main"]


def test_add_as_default_demotes_the_previous_one() -> None:
    _run("add", "main")
    _run("add", "ops", "--default")
    assert Agent.objects.get(is_default=True).slug == "ops"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("add", "main"), "exists already"),
        (("add", "Bad Id!"), "slug"),
        (("remove", "nope"), "no agent 'nope'"),
        (("remove", "main"), "is the default agent"),
    ],
)
def test_bad_input_exits_2_saying_what_to_do(args: tuple[str, ...], says: str) -> None:
    _run("add", "main")
    _run("add", "ops")
    with pytest.raises(CommandError) as info:
        _run(*args)
    assert says in str(info.value)
    assert info.value.returncode == 2


def test_an_agent_still_routed_to_is_not_removed() -> None:
    _run("add", "main")
    _run("add", "ops")
    RoutingRule.objects.create(agent=Agent.objects.get(slug="ops"), channel="telegram")
    with pytest.raises(CommandError) as info:
        _run("remove", "ops")
    assert "still named by routing rules" in str(info.value)
    assert Agent.objects.filter(slug="ops").exists()
