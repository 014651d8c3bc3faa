"""``manage.py doctor``: what keeps the gateway from running, and --fix that backs up
before it changes anything and never deletes configuration."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import REPO, child_env, run_manage

pytestmark = pytest.mark.process


def _doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = run_manage("doctor", "--json", *args, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_a_fresh_data_dir_is_fixed_after_a_backup_and_keeps_its_configuration(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = child_env(data)
    # Configuration first (this command sets the database up), then damage it a little.
    assert run_manage("config", "set", "session.dmScope", "per-peer", env=env).returncode == 0
    db = data / "gateway.sqlite3"
    # The latest gateway migration un-applied (nothing depends on it), as after an upgrade.
    names = sorted(p.stem for p in (REPO / "gateway" / "migrations").glob("0*.py"))
    assert run_manage("migrate", "gateway", names[-2], env=env).returncode == 0
    db.chmod(0o644)

    code, report = _doctor(env)
    assert code == 1
    checks = {p["check"] for p in report["problems"]}
    assert {"migrations", "database"} <= checks

    code, report = _doctor(env, "--fix")
    assert code == 0, report
    fixed = report["fixed"]
    assert any("backed up the database to" in line for line in fixed)
    assert "applied the pending migrations" in fixed
    backups = list((data / "backups").glob("gateway-*.sqlite3"))
    assert len(backups) == 1
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    # Nothing of the configuration was lost.
    got = run_manage("config", "get", "session.dmScope", env=env)
    assert json.loads(got.stdout) == "per-peer"


def test_a_clean_gateway_has_no_problems_and_text_output(tmp_path: Path) -> None:
    env = child_env(tmp_path / "data")
    run_manage("sessions", "list", env=env)  # sets the database up
    result = run_manage("doctor", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No problems found." in result.stdout


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    result = run_manage("doctor", "--frobnicate", env=child_env(tmp_path / "data"))
    assert result.returncode == 2
