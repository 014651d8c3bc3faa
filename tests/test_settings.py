"""Settings parsing: bad configuration stops start-up with one plain line, exit code 2.

Each case runs ``manage.py`` in a subprocess with a clean environment, since settings
are read once per process.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from openclaw_site import settings as settings_module

REPO_ROOT = Path(__file__).resolve().parent.parent
# Valid values for team mode, so each case fails on exactly the variable it breaks.
TEAM_SECRET_KEY = "team-secret-key-" + "y" * 40
TEAM_ENCRYPTION_KEY = "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM="
TEAM_DATABASE_URL = "postgres://openclaw@127.0.0.1:5432/openclaw"
TEAM_REDIS_URL = "redis://127.0.0.1:6379/0"


def _clean_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "OPENCLAW_", "DATABASE_URL", "REDIS_URL", "LOG_"))
    }
    env["DJANGO_SETTINGS_MODULE"] = "openclaw_site.settings"
    env["OPENCLAW_DATA_DIR"] = str(data_dir)
    env.update(overrides)
    return env


def _manage(data_dir: Path, *args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ("check",))],
        cwd=REPO_ROOT,
        env=_clean_env(data_dir, **overrides),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# Every case runs at once (one interpreter start each, ~0.5 s) to keep the suite fast.
BAD_CONFIGS: dict[str, dict[str, str]] = {
    "debug_typo": {"DJANGO_DEBUG": "ture"},
    "db_mysql": {"DATABASE_URL": "mysql://user:pw@db/openclaw"},
    "db_garbage": {"DATABASE_URL": "garbage"},
    "db_no_name": {"DATABASE_URL": "postgres://user@db:5432/"},
    "redis_http": {
        "REDIS_URL": "http://127.0.0.1:6379/0",
        "DJANGO_SECRET_KEY": TEAM_SECRET_KEY,
        "OPENCLAW_ENCRYPTION_KEY": TEAM_ENCRYPTION_KEY,
        "DATABASE_URL": TEAM_DATABASE_URL,
    },
    "redis_no_secret_key": {"REDIS_URL": TEAM_REDIS_URL, "DATABASE_URL": TEAM_DATABASE_URL},
    "team_no_encryption_key": {
        "REDIS_URL": TEAM_REDIS_URL,
        "DATABASE_URL": TEAM_DATABASE_URL,
        "DJANGO_SECRET_KEY": TEAM_SECRET_KEY,
    },
    "team_no_database": {
        "OPENCLAW_DEPLOYMENT": "team",
        "DJANGO_SECRET_KEY": TEAM_SECRET_KEY,
        "OPENCLAW_ENCRYPTION_KEY": TEAM_ENCRYPTION_KEY,
    },
    "log_format_xml": {"LOG_FORMAT": "xml"},
    "short_secret_key": {"DJANGO_SECRET_KEY": "too-short"},
    "model_timeout_over_lease": {
        "OPENCLAW_MODEL_TIMEOUT_S": "400",
        "OPENCLAW_WORK_LEASE_SECONDS": "300",
    },
    "queue_mode_typo": {"OPENCLAW_QUEUE_MODE": "colect"},
}


@dataclass(frozen=True)
class Outcome:
    result: subprocess.CompletedProcess[str]
    data_dir: Path


@pytest.fixture(scope="module")
def bad_config_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    running: dict[str, tuple[subprocess.Popen[str], list[str], Path]] = {}
    for case, overrides in BAD_CONFIGS.items():
        data_dir = tmp_path_factory.mktemp(case) / "data"
        args = [sys.executable, "manage.py", "check"]
        process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=_clean_env(data_dir, **overrides),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        running[case] = (process, args, data_dir)
    outcomes = {}
    for case, (process, args, data_dir) in running.items():
        stdout, stderr = process.communicate(timeout=60)
        result = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
        outcomes[case] = Outcome(result, data_dir)
    return outcomes


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("debug_typo", ("DJANGO_DEBUG", "'ture'", "true/false")),
        ("db_mysql", ("DATABASE_URL", "'mysql'", "postgres://")),
        ("db_garbage", ("DATABASE_URL", "'(none)'", "postgres://")),
        ("db_no_name", ("DATABASE_URL names no database",)),
        ("redis_http", ("REDIS_URL", "'http'", "redis://")),
        ("redis_no_secret_key", ("DJANGO_SECRET_KEY is not set",)),
        ("team_no_encryption_key", ("OPENCLAW_ENCRYPTION_KEY is not set",)),
        ("team_no_database", ("team mode", "DATABASE_URL")),
        ("log_format_xml", ("LOG_FORMAT", "'xml'", "plain, json")),
        ("short_secret_key", ("DJANGO_SECRET_KEY is shorter than 32 characters",)),
        ("model_timeout_over_lease", ("OPENCLAW_MODEL_TIMEOUT_S (400) must be shorter",)),
        ("queue_mode_typo", ("OPENCLAW_QUEUE_MODE", "'colect'")),
    ],
)
def test_bad_configuration_stops_start_up_with_one_line(
    bad_config_outcomes: dict[str, Outcome], case: str, needles: tuple[str, ...]
) -> None:
    outcome = bad_config_outcomes[case]
    result = outcome.result
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    # A failed start leaves no data dir behind.
    assert not outcome.data_dir.exists()


def test_embedded_check_creates_private_data_dir_and_reuses_its_secret_key(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = _manage(data_dir)
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    key_file = data_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text(encoding="utf-8")
    assert len(key.strip()) >= 32
    before = key_file.stat().st_mtime_ns
    # The encryption key file is created only when a secret is first stored.
    assert not (data_dir / "encryption.key").exists()

    second = _manage(data_dir)
    assert second.returncode == 0, second.stderr
    assert key_file.read_text(encoding="utf-8") == key
    assert key_file.stat().st_mtime_ns == before


def test_generated_secret_key_in_memory_is_the_one_written_to_disk(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    result = _manage(data_dir, "shell", "--no-imports", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (data_dir / "secret_key").read_text(encoding="utf-8").strip()


def test_importing_settings_writes_nothing_and_uses_embedded_defaults(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps({'debug': settings.DEBUG, 'team': settings.TEAM_MODE, "
        "'layer': settings.CHANNEL_LAYERS['default']['BACKEND'], "
        "'broker': settings.CELERY_BROKER_URL, "
        "'engine': settings.DATABASES['default']['ENGINE']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=_clean_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "debug": False,
        "team": False,
        "layer": "channels.layers.InMemoryChannelLayer",
        "broker": "memory://",
        "engine": "core.sqlite",
    }
    assert not data_dir.exists()


# --- the settings this test run loaded ------------------------------------------------


def test_debug_is_off_by_default() -> None:
    # pytest-django forces settings.DEBUG off; the module value is what the env produced.
    if os.environ.get("DJANGO_DEBUG"):
        pytest.skip("DJANGO_DEBUG is set for this run")
    assert settings_module.DEBUG is False


def test_sqlite_gets_wal_busy_timeout_and_immediate_transactions(settings: Any) -> None:
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "core.sqlite":
        pytest.skip("this pass runs on PostgreSQL")
    options = database["OPTIONS"]
    assert "journal_mode=WAL" in options["init_command"]
    assert "busy_timeout=" in options["init_command"]
    assert options["transaction_mode"] == "IMMEDIATE"


@pytest.mark.django_db
def test_sqlite_connection_applies_busy_timeout() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("this pass runs on PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        (timeout,) = cursor.fetchone()
    assert timeout == 5000


def test_connections_are_kept(settings: Any) -> None:
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] != 0


def test_channel_layer_is_in_memory_without_redis(settings: Any) -> None:
    if settings.REDIS_URL:
        pytest.skip("this pass runs with Redis")
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert settings.CELERY_BROKER_URL == "memory://"


def test_the_readme_lists_every_setting_the_code_reads() -> None:
    repo = Path(__file__).resolve().parent.parent
    readme = (repo / "README.md").read_text(encoding="utf-8")
    read = set()
    for module in (
        "openclaw_site/settings.py",
        "openclaw_site/login_settings.py",
        "openclaw_site/node_settings.py",
    ):
        source = (repo / module).read_text(encoding="utf-8")
        read |= set(re.findall(r'env_[a-z]+\(\s*"([A-Z][A-Z0-9_]+)"', source))
    assert len(read) > 40
    missing = sorted(name for name in read if f"`{name}`" not in readme)
    assert missing == [], f"document these settings in README.md: {missing}"
