"""``manage.py import_openclaw``: a realistic ~/.openclaw tree into the database, once and
idempotently, in one transaction; every bad input exits 2 and imports nothing."""

from __future__ import annotations

import json
import os
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.models import Agent, CronJob, RoutingRule
from channels_app.lib.account_keys import stored_secrets
from channels_app.models import ChannelAccount
from gateway.models import ConfigEntry
from gateway.tests import openclaw_tree as tree
from pairing.models import AllowlistEntry
from sessions_app.models import Message, Session
from sessions_app.selectors import session_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Path:
    for name, value in tree.ENV.items():
        monkeypatch.setenv(name, value)
    return tree.build(tmp_path)


def _import(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("import_openclaw", *args, "--json", stdout=out)
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


def _snapshot() -> dict[str, Any]:
    """Every row the import writes, with its updated_at: a second import must leave it."""
    return {
        "agents": list(Agent.objects.order_by("pk").values()),
        "rules": list(RoutingRule.objects.order_by("pk").values()),
        "accounts": list(
            ChannelAccount.objects.order_by("pk").values("pk", "updated_at", "credentials")
        ),
        "allow": list(AllowlistEntry.objects.order_by("pk").values()),
        "cron": list(CronJob.objects.order_by("pk").values()),
        "sessions": list(Session.objects.order_by("pk").values()),
        "messages": Message.objects.count(),
        "entries": list(ConfigEntry.objects.order_by("pk").values()),
    }


def _nothing_imported() -> None:
    assert Agent.objects.count() == 0
    assert ChannelAccount.objects.count() == 0
    assert Session.objects.count() == 0
    assert CronJob.objects.count() == 0


def test_a_realistic_state_dir_is_imported(state: Path) -> None:
    report = _import(str(state))

    main, work = Agent.objects.get(slug="main"), Agent.objects.get(slug="work")
    assert main.is_default
    assert main.name == "Clawd"
    assert main.emoji == "🦞"
    # agents.defaults: the default agent's workspace; the model of agents without one.
    assert main.workspace == str(state / "workspace")
    assert main.model_primary == "anthropic/claude-sonnet-4-6"
    # An agent without a workspace gets the folder OpenClaw used for it.
    assert work.workspace == str((state / "workspace-work").resolve())
    assert (work.model_primary, work.model_fallbacks) == (
        "openai/gpt-4o-mini",
        ["anthropic/claude-haiku-4-5"],
    )
    assert (work.tool_profile, work.tools_deny) == ("coding", ["exec"])
    assert (work.sandbox_mode, work.sandbox_workspace_access) == ("all", "ro")

    rules = list(RoutingRule.objects.order_by("priority"))
    assert [(r.agent.slug, r.account_id, r.peer_id, r.comment) for r in rules] == [
        ("work", "work", "", ""),
        ("main", "", "123456789", "me"),
    ]

    default = ChannelAccount.objects.get(kind="telegram", account_id="default")
    assert stored_secrets(default.credentials)["botToken"] == tree.MAIN_TOKEN  # ${VAR}
    assert default.groups == {"-1001234567890": {"requireMention": False}}
    work_bot = ChannelAccount.objects.get(kind="telegram", account_id="work")
    assert stored_secrets(work_bot.credentials)["botToken"] == tree.WORK_TOKEN
    assert work_bot.name == "Work bot"
    assert work_bot.dm_policy == "allowlist"
    # env.vars substitution, and the channel's own keys inherited by the account
    assert work_bot.allow_from == ["222333444", "tg:555666777"]
    assert work_bot.groups == default.groups

    settings = session_settings()
    assert settings.dm_scope == "per-channel-peer"
    assert dict(settings.identity_links) == {"alice": ("telegram:123456789",)}
    assert (settings.reset.mode, settings.reset.at_hour) == ("daily", 5)

    stored = dict(ConfigEntry.objects.values_list("path", "value"))
    assert stored["gateway.trustedProxies"] == ["10.0.0.1"]
    assert stored["hooks"]["enabled"] is True
    assert "tokenEncrypted" in stored["hooks"]
    assert tree.HOOKS_TOKEN not in json.dumps(stored)
    assert stored["gateway.http"]["endpoints"]["responses"] == {"enabled": True}

    brief = CronJob.objects.get(name="Morning brief")
    assert str(brief.public_id) == tree.JOB_ID
    assert (brief.cron_expr, brief.tz, brief.agent and brief.agent.slug) == (
        "0 7 * * *",
        "Europe/Berlin",
        "main",
    )
    water = CronJob.objects.get(name="Water the plants")
    assert (water.session_target, water.every_ms) == ("main", 86_400_000)

    allowed = set(AllowlistEntry.objects.values_list("channel_account__account_id", "sender_ref"))
    assert allowed == {("default", "123456789"), ("default", "987654321"), ("work", "222333444")}

    session = Session.objects.get(key=tree.SESSION_KEY)
    assert str(session.session_id) == tree.SESSION_ID
    assert (session.label, session.thinking_level, session.channel) == ("Me", "low", "telegram")
    messages = list(session.messages.order_by("seq"))
    assert [m.role for m in messages] == ["user", "assistant", "tool", "compaction", "assistant"]
    assert messages[1].content[1]["type"] == "toolCall"
    assert messages[2].details["toolCallId"] == "call_1"
    assert messages[3].details["firstKeptSeq"] == messages[2].seq  # firstKeptEntryId e4
    assert session.compaction_count == 1
    assert session.last_seq == 5

    assert report["cron"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert report["allowlist"] == {"added": 3, "unchanged": 0}
    assert report["sessions"]["created"] == 1
    assert report["sessions"]["messages"] == 5
    not_mapped = {item["path"]: item["why"] for item in report["notMapped"]}
    for path in (
        "agents.defaults.heartbeat",
        "channels.telegram.streaming",
        "messages",
        "credentials/whatsapp-allowFrom.json",
        "credentials/telegram-pairing.json",
    ):
        assert path in not_mapped
    assert any("queueMode" in path for path in not_mapped)  # steer-backlog is not kept
    assert any("model_change entries" in why for why in not_mapped.values())
    assert report["envVars"] == ["HOOKS_TOKEN", "TELEGRAM_BOT_TOKEN", "WORK_OWNER"]


def test_a_second_import_changes_nothing(state: Path) -> None:
    _import(str(state))
    before = _snapshot()
    report = _import(str(state))
    assert report["changes"] == 0
    assert report["config"] == {"created": [], "changed": []}
    assert report["cron"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert report["allowlist"] == {"added": 0, "unchanged": 3}
    assert report["sessions"] == {"created": 0, "updated": 0, "unchanged": 1, "messages": 0}
    assert _snapshot() == before


def test_new_transcript_lines_are_appended_on_a_later_import(state: Path) -> None:
    _import(str(state))
    transcript = state / "agents/main/sessions" / f"{tree.SESSION_ID}.jsonl"
    line = {
        "type": "message",
        "id": "e8",
        "parentId": "e7",
        "timestamp": "2026-11-02T10:01:00.000Z",
        "message": {"role": "user", "content": "and now?"},
    }
    with transcript.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
    report = _import(str(state))
    assert report["sessions"] == {"created": 0, "updated": 1, "unchanged": 0, "messages": 1}
    assert Session.objects.get(key=tree.SESSION_KEY).last_seq == 6


def test_dry_run_reports_and_writes_nothing(state: Path) -> None:
    report = _import(str(state), "--dry-run")
    assert report["dryRun"] is True
    assert report["cron"]["created"] == 2
    assert report["changes"] > 0
    _nothing_imported()


def test_the_summary_and_the_progress_bar(
    state: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENCLAW_STATE_DIR", str(state))  # no DIR: the env's state dir
    out = StringIO()
    call_command("import_openclaw", stdout=out)
    text = out.getvalue()
    assert "\r[" not in text  # not a terminal: no bar
    assert "cron jobs: 2 created" in text
    assert "not mapped (" in text
    assert "messages: no such section here" in text

    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    call_command("import_openclaw", str(state), stdout=terminal)
    assert f"\r[{'#' * 30}] 5/5" in terminal.getvalue()  # 2 jobs, 2 allowFrom files, 1 session
    assert "nothing changed" in terminal.getvalue()


# --- bad input ----------------------------------------------------------------------------
def _refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("import_openclaw", *args, stdout=StringIO())
    assert caught.value.returncode == 2
    _nothing_imported()
    return str(caught.value)


def test_a_json5_syntax_error_names_file_line_column_and_what_was_expected(state: Path) -> None:
    config = state / "channels.json5"
    config.write_text('{\n  telegram: {\n    dmPolicy: "pairing"\n    groupPolicy: "open",\n  }\n}')
    message = _refused(str(state))
    assert f"{config}:4:5: unexpected" in message
    assert 'expected "," or "}"' in message


def test_an_unknown_key_is_named_with_the_closest_known_key(state: Path) -> None:
    config = state / "openclaw.json"
    config.write_text(config.read_text().replace("dmScope:", "dmScop:"))
    message = _refused(str(state))
    assert "session.dmScop: unknown key; did you mean session.dmScope?" in message


def test_an_unset_variable_is_refused(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    message = _refused(str(state))
    assert "channels.telegram.botToken references ${TELEGRAM_BOT_TOKEN}" in message


def test_a_binding_to_a_missing_agent_is_refused(state: Path) -> None:
    config = state / "openclaw.json"
    config.write_text(config.read_text().replace('{ agentId: "work"', '{ agentId: "wrok"'))
    message = _refused(str(state))
    assert "bindings[0].agentId: no agent 'wrok'; did you mean 'work'?" in message


def test_a_bad_value_late_in_the_import_rolls_everything_back(state: Path) -> None:
    jobs = state / "cron" / "jobs.json"
    jobs.write_text(jobs.read_text().replace("0 7 * * *", "not a cron expression"))
    message = _refused(str(state))
    assert "cron/jobs.json jobs[0]" in message


def test_a_missing_or_unreadable_dir_is_refused(
    tmp_path: Path, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "no such directory" in _refused(str(tmp_path / "nowhere"))
    assert "not a directory" in _refused(str(state / "openclaw.json"))
    (tmp_path / "empty").mkdir()
    assert "openclaw.json: no such file" in _refused(str(tmp_path / "empty"))
    # Root reads any folder, so the permission check is exercised through os.access.
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    assert "permission denied" in _refused(str(state))


def test_the_state_dirs_dotenv_supplies_variables(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN")
    (state / ".env").write_text(f"TELEGRAM_BOT_TOKEN={tree.MAIN_TOKEN}\nHOOKS_TOKEN=ignored\n")
    report = _import(str(state))
    default = ChannelAccount.objects.get(kind="telegram", account_id="default")
    assert stored_secrets(default.credentials)["botToken"] == tree.MAIN_TOKEN
    assert "TELEGRAM_BOT_TOKEN" in report["envVars"]
    assert os.environ.get("TELEGRAM_BOT_TOKEN") is None  # read, not applied to the process


def test_openclaws_heartbeat_jobs_are_left_to_the_heartbeat_config(state: Path) -> None:
    jobs_file = state / "cron" / "jobs.json"
    document = json.loads(jobs_file.read_text())
    jobs = document["jobs"] if isinstance(document, dict) else document
    jobs.append(
        {
            "id": "6f7c0000-0000-4000-8000-000000000001",
            "name": "heartbeat-main",
            "agentId": "main",
            "declarationKey": "heartbeat:main",
            "enabled": True,
            "schedule": {"kind": "every", "everyMs": 1_800_000, "anchorMs": 1_233_759},
            "sessionTarget": "main",
            "wakeMode": "next-heartbeat",
            "payload": {"kind": "heartbeat"},
            "state": {},
        }
    )
    jobs_file.write_text(json.dumps(document))

    report = _import(str(state))

    not_mapped = {item["path"]: item["why"] for item in report["notMapped"]}
    assert "heartbeat" in not_mapped[f"cron/jobs.json jobs[{len(jobs) - 1}]"]
    assert not CronJob.objects.filter(name="heartbeat-main", declaration_key="").exists()
