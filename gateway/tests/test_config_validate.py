"""``manage.py config validate FILE``: the rules of config.patch, nothing applied."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.models import Agent
from sessions_app.models import SessionSettings

pytestmark = pytest.mark.django_db


def _validate(path: Path) -> str:
    out = io.StringIO()
    call_command("config", "validate", str(path), stdout=out)
    return out.getvalue()


def test_a_valid_file_is_checked_and_not_applied(tmp_path: Path) -> None:
    Agent.objects.create(slug="main", name="Main", is_default=True)
    config = tmp_path / "openclaw.json"
    config.write_text(
        "// JSON5: comments and trailing commas\n"
        "{session: {dmScope: 'per-channel-peer',}, agents: {defaults: {model: "
        "{primary: 'openai/gpt-4o-mini'}}}}\n"
    )
    said = _validate(config)
    assert "valid" in said
    assert "nothing applied" in said
    assert not SessionSettings.objects.filter(dm_scope="per-channel-peer").exists()
    assert Agent.objects.get().model_primary == ""


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{session: {dmScope: 'per-channel-peer'", "not valid JSON5"),
        ("{sesion: {}}", "session"),
        ("{session: {dmScope: 'everyone'}}", "dmScope"),
    ],
)
def test_an_invalid_file_exits_2_naming_what_is_wrong(tmp_path: Path, text: str, says: str) -> None:
    config = tmp_path / "bad.json5"
    config.write_text(text)
    with pytest.raises(CommandError) as info:
        _validate(config)
    assert says in str(info.value)
    assert str(config) in str(info.value)
    assert info.value.returncode == 2


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as info:
        _validate(tmp_path / "nope.json")
    assert "cannot read" in str(info.value)
    assert info.value.returncode == 2
