"""``manage.py export_openclaw``: the database as an OpenClaw 2026.9 openclaw.json that
OpenClaw's own ``openclaw config validate`` accepts and that imports back to the same
configuration."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any, NoReturn

import pytest
from django.core.management import call_command

from agents.models import Agent, CronJob, RoutingRule
from agents.tests.factories import AgentFactory
from channels_app.models import ChannelAccount
from gateway.models import ConfigEntry
from gateway.tests import openclaw_tree as tree
from sessions_app.models import Session, SessionSettings
from tests.control_ui import OPENCLAW, cli_env, missing_cli

pytestmark = pytest.mark.django_db

SkipOrFail = Callable[[str], NoReturn]


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Path:
    for name, value in tree.ENV.items():
        monkeypatch.setenv(name, value)
    state = tree.build(tmp_path)
    call_command("import_openclaw", str(state), stdout=StringIO())
    return state


def _export(*args: str) -> tuple[dict[str, Any], str]:
    out, err = StringIO(), StringIO()
    call_command("export_openclaw", *args, stdout=out, stderr=err)
    document: dict[str, Any] = json.loads(out.getvalue()) if out.getvalue() else {}
    return document, err.getvalue()


def _wipe() -> None:
    """A fresh database, as far as the import and export are concerned."""
    CronJob.objects.all().delete()
    RoutingRule.objects.all().delete()
    Session.objects.all().delete()
    Agent.objects.all().delete()
    ChannelAccount.objects.all().delete()
    ConfigEntry.objects.all().delete()
    SessionSettings.objects.all().delete()


def _state_dir(root: Path, document: dict[str, Any]) -> Path:
    root.mkdir()
    (root / "openclaw.json").write_text(json.dumps(document), encoding="utf-8")
    return root


def test_the_export_is_openclaw_2026_9s_shape(imported: Path) -> None:
    document, err = _export()
    agents = document["agents"]
    assert list(agents["entries"]) == ["main", "work"]  # the default agent first
    assert agents["ownership"] == "explicit"
    assert agents["defaults"]["systemAgent"] == {"agentId": "main"}
    assert agents["entries"]["work"]["sandbox"] == {"mode": "all", "workspaceAccess": "ro"}
    accounts = document["channels"]["telegram"]["accounts"]
    assert accounts["default"]["botToken"] == "${TELEGRAM_BOT_TOKEN}"
    assert accounts["work"]["botToken"] == "${TELEGRAM_BOT_TOKEN_WORK}"
    assert document["hooks"]["token"] == "${OPENCLAW_HOOKS_TOKEN}"
    text = json.dumps(document)
    for secret in (tree.MAIN_TOKEN, tree.WORK_TOKEN, tree.HOOKS_TOKEN):
        assert secret not in text
    assert "TELEGRAM_BOT_TOKEN, TELEGRAM_BOT_TOKEN_WORK, OPENCLAW_HOOKS_TOKEN" in err
    # What the default agent did with unbound traffic, spelled out for OpenClaw's
    # explicit ownership: a channel-wide binding to it, after the document's own.
    assert document["bindings"][-1] == {
        "agentId": "main",
        "match": {"channel": "telegram", "accountId": "*"},
    }
    with_secrets, _ = _export("--include-secrets")
    assert with_secrets["channels"]["telegram"]["accounts"]["work"]["botToken"] == tree.WORK_TOKEN
    assert with_secrets["hooks"]["token"] == tree.HOOKS_TOKEN


def test_export_import_export_loses_nothing(
    imported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = _export()
    _wipe()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN_WORK", tree.WORK_TOKEN)
    monkeypatch.setenv("OPENCLAW_HOOKS_TOKEN", tree.HOOKS_TOKEN)
    call_command("import_openclaw", str(_state_dir(tmp_path / "again", first)), stdout=StringIO())
    second, _ = _export()
    assert second == first
    with_secrets, _ = _export("--include-secrets")
    _wipe()
    state = _state_dir(tmp_path / "with-secrets", with_secrets)
    call_command("import_openclaw", str(state), stdout=StringIO())
    assert _export("--include-secrets")[0] == with_secrets


def test_a_single_agent_needs_no_ownership(data_dir: Path) -> None:
    AgentFactory.create(slug="main", name="", model_primary="", is_default=True)
    document, _ = _export()
    assert "ownership" not in document["agents"]
    assert "bindings" not in document


def test_output_is_written_for_its_owner_only(imported: Path, tmp_path: Path) -> None:
    path = tmp_path / "out" / "openclaw.json"
    path.parent.mkdir()
    _, err = _export("--output", str(path), "--include-secrets")
    assert f"wrote {path}" in err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["channels"]["telegram"]["accounts"]["work"]["botToken"]


@pytest.mark.process
def test_openclaw_config_validate_accepts_the_export(
    imported: Path, tmp_path: Path, skip_or_fail: SkipOrFail
) -> None:
    if (missing := missing_cli()) is not None:
        skip_or_fail(missing)
    scratch = tmp_path / "oc"
    env = {
        **cli_env(scratch),
        # The env references of the default export, as a user sets them.
        "TELEGRAM_BOT_TOKEN": tree.MAIN_TOKEN,
        "TELEGRAM_BOT_TOKEN_WORK": tree.WORK_TOKEN,
        "OPENCLAW_HOOKS_TOKEN": tree.HOOKS_TOKEN,
    }
    for args in ((), ("--include-secrets",)):
        call_command(
            "export_openclaw", "--output", env["OPENCLAW_CONFIG_PATH"], *args, stderr=StringIO()
        )
        result = subprocess.run(
            [str(OPENCLAW), "config", "validate", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        verdict = json.loads(result.stdout)
        assert verdict["valid"] is True, verdict
        assert verdict.get("warnings") == [], verdict
