"""``manage.py cron list|add|run|remove|runs``: text and --json, exit 2 on bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.models import Agent, CronJob, CronRun
from agents.tests.cron_fixtures import Sent
from tests.gateway_process import REPO

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("cron", *args, stdout=out)
    return out.getvalue()


def test_add_list_run_runs_and_remove(cron_agent: Agent, cron_sent: Sent) -> None:
    added = json.loads(
        _run("--json", "add", "--name", "inbox", "--every", "1h", "--system-event", "check mail")
    )
    assert (added["schedule"]["everyMs"], added["sessionTarget"], added["payload"]) == (
        3_600_000,
        "main",
        {"kind": "systemEvent", "text": "check mail"},
    )
    text = _run(
        "add", "--name", "brief", "--cron", "0 9 * * 1-5", "--tz", "Europe/Berlin",
        "--message", "morning brief", "--announce", "--channel", "telegram", "--to", "42",
        "--model", "openai/gpt-4o-mini", "--timeout-seconds", "120", "--tools", "read,ls",
    )  # fmt: skip
    assert text.startswith("Added cron job ")
    brief = CronJob.objects.get(name="brief")
    assert (brief.session_target, brief.tz, brief.delivery) == (
        "isolated",
        "Europe/Berlin",
        {"mode": "announce", "channel": "telegram", "to": "42"},
    )
    assert brief.payload["toolsAllow"] == ["read", "ls"]
    assert brief.payload["timeoutSeconds"] == 120

    listed = json.loads(_run("--json", "list"))["jobs"]
    assert {j["name"] for j in listed} == {"inbox", "brief"}
    assert "inbox" in _run("list")

    ran = json.loads(_run("--json", "run", added["id"]))
    assert ran == {
        "ok": True,
        "ran": True,
        "enqueued": True,
        "runId": str(CronRun.objects.get().public_id),
    }
    assert "already-running" in _run("run", added["id"])
    assert json.loads(_run("--json", "runs", added["id"])) == {"entries": [], "total": 0}

    assert json.loads(_run("--json", "remove", added["id"])) == {"ok": True, "removed": True}
    assert "Removed cron job" in _run("remove", str(brief.public_id))
    assert _run("list").strip() == "No cron jobs."


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("add", "--name", "x", "--every", "0s", "--system-event", "t"), "everyMs must be between"),
        (("add", "--name", "x", "--every", "soon", "--system-event", "t"), "is not a duration"),
        (("add", "--name", "x", "--cron", "61 * * * *", "--system-event", "t"), "cron expression"),
        (
            ("add", "--name", "x", "--cron", "0 9 * * *", "--tz", "Nowhere", "--message", "m"),
            "IANA",
        ),
        (("add", "--name", "x", "--at", "2001-01-01T00:00:00Z", "--message", "m"), "in the past"),
        (
            ("add", "--name", "x", "--every", "1h", "--message", "m", "--agent", "ghost"),
            "unknown agent",
        ),
        (
            ("add", "--name", "x", "--every", "1h", "--system-event", "t", "--to", "42"),
            "for --message",
        ),
        (("run", "nope"), "cron job not found: nope"),
        (("remove", str(uuid.UUID(int=1))), "no cron job"),
        (("runs", "nope"), "no cron job"),
    ],
)
def test_bad_input_exits_2_saying_what_to_do(
    cron_agent: Agent, args: tuple[str, ...], says: str
) -> None:
    with pytest.raises(CommandError, match=says) as excinfo:
        _run(*args)
    assert excinfo.value.returncode == 2
    assert not CronJob.objects.exists()


def test_help_names_the_subcommands() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "cron", "--help"],
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0
    assert "{list,add,run,remove,runs}" in result.stdout
