"""Every ``manage.py`` command works on a fresh data dir (real processes, own data dirs).

Before the first gateway start there are no tables: embedded mode sets the database up
first and says so in one line on stderr (stdout stays the command's own output); team
mode says in one line what to run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gateway_process import child_env, run_manage

pytestmark = pytest.mark.process

TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"


def test_config_set_on_a_fresh_data_dir_sets_the_database_up_first(tmp_path: Path) -> None:
    env = child_env(tmp_path / "data")

    result = run_manage("config", "set", "channels.telegram.botToken", TOKEN, env=env)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Set up the database in ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout.strip() == (
        "channels.telegram.botToken set; the channel picks it up now, no restart"
    )
    assert TOKEN not in result.stdout + result.stderr

    # The next command finds the tables: nothing more on stderr, only its own output.
    got = run_manage("config", "get", "channels.telegram.botToken", env=env)
    assert (got.returncode, got.stderr) == (0, "")
    assert json.loads(got.stdout) == "__OPENCLAW_REDACTED__"


@pytest.mark.parametrize(
    ("args", "returncode"),
    [
        (("config", "get"), 0),
        (("gateway_token", "list"), 0),
        (("channels", "status"), 0),
        (("sessions", "list"), 0),
        (("agents", "list"), 0),
        # Nothing to list yet: its own one-line answer, not a missing table.
        (("pairing", "list", "telegram"), 2),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else str(value),
)
def test_other_commands_work_on_a_fresh_data_dir(
    tmp_path: Path, args: tuple[str, ...], returncode: int
) -> None:
    result = run_manage(*args, env=child_env(tmp_path / "data"))

    assert result.returncode == returncode, result.stderr
    assert "no such table" not in result.stderr
    assert "Traceback" not in result.stderr


def test_team_mode_says_in_one_line_what_to_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # A team-mode database that was never migrated: one line, exit 2, nothing written.
    env = child_env(
        data,
        OPENCLAW_DEPLOYMENT="team",
        DATABASE_URL=f"sqlite:///{data / 'team.sqlite3'}",
        DJANGO_SECRET_KEY="x" * 60,
        OPENCLAW_ENCRYPTION_KEY="dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM=",
        OPENCLAW_GATEWAY_TOKEN="9f3c2a7e51b04d8e6a1f3c5b7d9e0a2c4f6b8d0e1a3c5e7f",
    )

    result = run_manage("config", "set", "channels.telegram.dmPolicy", "allowlist", env=env)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(lines) == 1, result.stderr
    assert "unapplied migration" in lines[0]
    assert "run `manage.py migrate` first" in lines[0]
