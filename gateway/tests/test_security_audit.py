"""``manage.py security_audit``: each check finds its problem, --fix repairs permissions
only, --json for scripts, exit 0 clean / 1 found / 2 bad arguments."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from agents.models import Agent
from channels_app.models import ChannelAccount
from channels_app.tests.factories import ChannelAccountFactory
from gateway.security_audit import security_audit
from tests.gateway_process import child_env, run_manage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clean(settings: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deployment with nothing to find: loopback, no DEBUG, private files, a sandbox."""
    settings.DEBUG = False
    settings.GATEWAY_BIND = "loopback"
    settings.GATEWAY_TOKEN = ""
    settings.GATEWAY_PASSWORD = ""
    monkeypatch.setattr("gateway.security_audit.mechanism_works", lambda m: True)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    return data_dir


def _checks(found: list[Any]) -> list[tuple[str, str]]:
    return [(f.check, f.severity) for f in found]


def _run(*args: str) -> tuple[int, str]:
    out: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            out.append(text)

        def flush(self) -> None:
            pass

    try:
        call_command("security_audit", *args, stdout=Out())
    except SystemExit as exc:
        return int(exc.code or 0), "".join(out)
    return 0, "".join(out)


def test_a_clean_deployment_has_no_findings(clean: Path) -> None:
    assert security_audit() == []
    code, out = _run()
    assert code == 0
    assert "No security findings." in out


def test_debug_and_a_weak_credential_beyond_loopback_are_critical(
    clean: Path, settings: Any
) -> None:
    settings.DEBUG = True
    settings.GATEWAY_BIND = "lan"
    settings.GATEWAY_PASSWORD = "short"
    found = _checks(security_audit())
    assert ("debug", "critical") in found
    assert ("bind", "critical") in found


def test_open_policies_and_an_agent_without_sandbox_are_warned(clean: Path) -> None:
    ChannelAccountFactory.create(dm_policy="open", allow_from=["*"], group_policy="open")
    Agent.objects.create(slug="ops", name="Ops", sandbox_mode=Agent.SandboxMode.OFF)
    found = _checks(security_audit())
    assert ("dm_policy", "warn") in found
    assert ("group_policy", "warn") in found
    assert ("exec", "warn") in found


def test_no_working_sandbox_is_warned(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Agent.objects.create(slug="main", name="Main")
    monkeypatch.setattr("gateway.security_audit.mechanism_works", lambda m: False)
    [finding] = security_audit()
    assert finding.check == "exec"
    assert "bubblewrap" in finding.fix


def test_a_secret_stored_in_plain_text_is_critical(clean: Path) -> None:
    account = ChannelAccountFactory.create(credentials={"botToken": "123:abc"})
    table = connection.ops.quote_name(ChannelAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET credentials = %s WHERE id = %s",  # noqa: S608
            ['{"botToken": "123:abc"}', account.pk],
        )
    [finding] = security_audit()
    assert (finding.check, finding.severity) == ("unencrypted_secret", "critical")
    assert "123:abc" not in finding.problem


def test_fix_repairs_permissions_and_nothing_else(clean: Path, settings: Any) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the file checks are embedded mode's")
    key = Path(settings.ENCRYPTION_KEY_FILE)
    key.write_text("k\n")
    key.chmod(0o644)
    clean.chmod(0o755)
    ChannelAccountFactory.create(dm_policy="open", allow_from=["*"])

    code, out = _run("--json")
    body = json.loads(out)
    assert code == 1
    assert {f["check"] for f in body["findings"]} >= {"key_file", "data_dir", "dm_policy"}
    assert body["ok"] is False

    code, out = _run("--fix", "--json")
    body = json.loads(out)
    assert code == 1  # the open policy is the operator's to change
    assert {f["check"] for f in body["fixed"]} >= {"key_file", "data_dir"}
    assert [f["check"] for f in body["findings"]] == ["dm_policy"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(clean.stat().st_mode) == 0o700
    assert ChannelAccount.objects.get().dm_policy == "open"


@pytest.mark.process
def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    result = run_manage("security_audit", "--frobnicate", env=child_env(tmp_path / "data"))
    assert result.returncode == 2
    assert "--frobnicate" in result.stderr
