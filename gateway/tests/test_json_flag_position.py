"""``--json`` works after the subcommand as well as before it, as OpenClaw's CLI takes it."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("command", "key"),
    [("agents", "agents"), ("sessions", "sessions"), ("gateway_token", "tokens"), ("cron", "jobs")],
)
@pytest.mark.parametrize("before", [True, False])
def test_json_before_or_after_the_subcommand(command: str, key: str, before: bool) -> None:
    out = io.StringIO()
    args = ["--json", "list"] if before else ["list", "--json"]
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    assert key in json.loads(out.getvalue())


@pytest.mark.parametrize("command", ["agents", "sessions", "gateway_token", "cron"])
def test_without_json_the_listing_is_text(command: str) -> None:
    out = io.StringIO()
    call_command(command, "list", stdout=out, stderr=io.StringIO())
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.getvalue() or "not json")
