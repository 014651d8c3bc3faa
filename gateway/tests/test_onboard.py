"""``manage.py onboard``: a fresh machine set up in one command, and again without harm.

Non-interactive (flags) and interactive (prompts, driven through monkeypatched ``input``
and ``getpass``), ``--json``, bad input (exit 2, nothing written), and
``--install-daemon`` writing systemd units into a temporary folder (never running
``systemctl``).
"""

from __future__ import annotations

import builtins
import getpass
import io
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from agents.models import Agent, ModelProvider
from channels_app.lib.account_keys import stored_secrets
from channels_app.models import ChannelAccount
from gateway.lib.systemd import env_file_line, exec_word
from gateway.models import GatewayToken
from tests.gateway_process import TEAM_TOKEN, child_env, run_manage

PASSWORD = "correct-horse-battery-9"
API_KEY = "sk-onboard-test-0123456789abcdef"
BOT_TOKEN = "123456789:AAE" + "x" * 32
OTHER_BOT_TOKEN = "987654321:AAE" + "y" * 32
MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Any) -> None:
    # Default unit and env-file paths are under ~: never the real home.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in (
        "DJANGO_SUPERUSER_USERNAME",
        "DJANGO_SUPERUSER_PASSWORD",
        "DJANGO_SUPERUSER_EMAIL",
        "TELEGRAM_BOT_TOKEN",
        "DATABASE_URL",
        "REDIS_URL",
        "SUDO_USER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONBOARD_PW", PASSWORD)
    monkeypatch.setenv("ONBOARD_KEY", API_KEY)
    monkeypatch.setenv("ONBOARD_TG", BOT_TOKEN)
    settings.OPENCLAW_MODEL = ""  # what answers follows the provider given here
    # These tests onboard an embedded data dir, also in the suite's PostgreSQL + Redis pass
    # (whose settings are team mode); --team and its own environment test team mode.
    settings.TEAM_MODE = False


def onboard(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command("onboard", *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def full(*extra: str) -> list[str]:
    return [
        "--non-interactive",
        "--username",
        "pi",
        "--email",
        "pi@example.com",
        "--password-env",
        "ONBOARD_PW",
        "--provider",
        "openai",
        "--api-key-env",
        "ONBOARD_KEY",
        "--telegram-token-env",
        "ONBOARD_TG",
        *extra,
    ]


def raw_column(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")  # noqa: S608  (test constants)
        return [str(row[0]) for row in cursor.fetchall()]


def bad(*args: str, **options: Any) -> str:
    with pytest.raises(CommandError) as caught:
        onboard(*args, **options)
    assert caught.value.returncode == 2, caught.value
    return str(caught.value)


# --- non-interactive -------------------------------------------------------------------
@pytest.mark.django_db
def test_a_fresh_data_dir_gets_everything_and_the_secrets_are_encrypted(data_dir: Path) -> None:
    assert not data_dir.exists()
    out = onboard(*full("--model", "openai/gpt-4o"))

    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    user = get_user_model().objects.get(username="pi")
    assert user.is_superuser
    assert user.is_staff
    assert user.check_password(PASSWORD)
    assert user.email == "pi@example.com"
    agent = Agent.objects.get(is_default=True)
    assert agent.slug == "main"
    assert agent.model_primary == "openai/gpt-4o"
    token = GatewayToken.objects.get()
    shown = (data_dir / "gateway-token").read_text().strip()
    assert token.token_hash != shown
    assert shown in out
    row = ModelProvider.objects.get()
    assert (row.provider, row.api, row.api_key) == ("openai", "openai-chat", API_KEY)
    assert not any(API_KEY in value for value in raw_column("agents_modelprovider", "api_key"))
    account = ChannelAccount.objects.get(kind="telegram", account_id="default")
    assert stored_secrets(account.credentials)["botToken"] == BOT_TOKEN
    stored = raw_column("channels_app_channelaccount", "credentials")
    assert not any(BOT_TOKEN in value or "123456789" in value for value in stored)
    assert API_KEY not in out
    assert BOT_TOKEN not in out
    assert PASSWORD not in out
    assert "Answering model: openai/gpt-4o" in out


@pytest.mark.django_db
def test_running_it_again_duplicates_nothing_and_overwrites_nothing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    onboard(*full("--model", "openai/gpt-4o"))
    token_file = (data_dir / "gateway-token").read_text()
    monkeypatch.setenv("ONBOARD_KEY", "sk-a-different-key-0123456789")
    monkeypatch.setenv("ONBOARD_TG", OTHER_BOT_TOKEN)
    out = onboard(*full("--model", "anthropic/claude-haiku-4-5", "--json"))

    result = json.loads(out)
    assert {k: v["status"] for k, v in result["steps"].items()} == {
        "superuser": "exists",
        "telegram": "kept",
        "agent": "exists",
        "provider": "kept",
        "model": "kept",
    }
    assert "config set channels.telegram.botToken" in result["steps"]["telegram"]["detail"]
    assert "config set agents.defaults.model.primary" in result["steps"]["model"]["detail"]
    assert result["gatewayToken"] == {"status": "exists", "file": str(data_dir / "gateway-token")}
    assert result["migrationsApplied"] == 0
    assert result["dataDirCreated"] is False
    assert get_user_model().objects.count() == 1
    assert GatewayToken.objects.count() == 1
    assert Agent.objects.count() == 1
    assert ModelProvider.objects.get().api_key == API_KEY
    account = ChannelAccount.objects.get()
    assert stored_secrets(account.credentials)["botToken"] == BOT_TOKEN
    assert Agent.objects.get().model_primary == "openai/gpt-4o"
    assert (data_dir / "gateway-token").read_text() == token_file


@pytest.mark.django_db
def test_the_same_values_again_are_unchanged_and_json_shows_the_token_only_once(
    data_dir: Path,
) -> None:
    first = json.loads(onboard(*full("--json")))
    assert first["gatewayToken"]["status"] == "created"
    assert len(first["gatewayToken"]["token"]) == 48
    assert first["dataDirCreated"] is True
    assert first["model"] == {"answers": "openai/gpt-4o-mini", "why": None}
    assert first["steps"]["provider"]["status"] == "created"
    assert first["steps"]["telegram"]["status"] == "created"

    second = json.loads(onboard(*full("--json")))
    assert "token" not in second["gatewayToken"]
    assert second["steps"]["provider"]["status"] == "unchanged"
    assert second["steps"]["telegram"]["status"] == "unchanged"
    assert second["steps"]["model"]["status"] == "skipped"


@pytest.mark.django_db
def test_an_existing_admin_user_is_enough_on_later_runs(data_dir: Path) -> None:
    onboard(*full())
    out = onboard("--non-interactive")
    assert "Admin user: admin user 'pi' exists" in out
    assert "Gateway token: stored in" in out


# --- bad input: exit 2, one clear line, nothing written ----------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--non-interactive"], "there is no admin user yet: give --username"),
        (["--non-interactive", "--username", "pi"], "a password is needed"),
        (
            ["--non-interactive", "--username", "pi", "--password-env", "NOT_SET_ANYWHERE"],
            "the environment variable NOT_SET_ANYWHERE is not set",
        ),
        (["--non-interactive", "--username", "bad name!", "--password", PASSWORD], "username"),
        (["--non-interactive", "--username", "pi", "--password", "123"], "the admin password"),
        (
            [*full(), "--email", "not-an-email"],
            "is not an email address",
        ),
        ([*full(), "--model", "gpt-4o"], "is not a model ref: write provider/model"),
        (
            ["--non-interactive", "--username", "pi", "--password", PASSWORD, "--api-key", "k"],
            "which provider is the key for?",
        ),
        (
            [
                "--non-interactive",
                "--username",
                "pi",
                "--password",
                PASSWORD,
                "--telegram-token",
                "12345",
            ],
            "does not look like a bot token",
        ),
        ([*full(), "--unit-dir", "/tmp/x"], "--unit-dir only applies with --install-daemon"),
        ([*full(), "--install-daemon", "--team"], "team mode's units need DATABASE_URL"),
        ([*full(), "--data-dir", "/somewhere/else"], "is not the data dir of these settings"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(
    data_dir: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    message = bad(*args)
    assert expected in message
    assert not data_dir.exists()
    assert not get_user_model().objects.exists()
    assert not GatewayToken.objects.exists()


@pytest.mark.django_db
def test_prompts_need_a_terminal(data_dir: Path) -> None:
    assert "stdin is not a terminal" in bad(stdin=io.StringIO())


@pytest.mark.process
def test_the_real_command_line_makes_the_data_dir_and_exits_2_on_bad_input(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = child_env(tmp_path / "elsewhere", ONBOARD_PW=PASSWORD)
    failed = run_manage("onboard", "--non-interactive", "--data-dir", str(data), env=env)
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0
    assert "--username" in failed.stderr
    assert not data.exists()
    assert not (tmp_path / "elsewhere").exists()
    assert run_manage("onboard", "--frobnicate", env=env).returncode == 2

    ok = run_manage(
        *("onboard", "--json", "--data-dir", str(data)),
        *("--username", "pi", "--password-env", "ONBOARD_PW"),
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert result["dataDir"] == str(data)
    assert result["migrationsApplied"] > 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert (data / "gateway.sqlite3").exists()
    assert not (tmp_path / "elsewhere").exists()


def test_an_unreachable_database_exits_2_before_asking(tmp_path: Path) -> None:
    env = child_env(tmp_path / "data", DATABASE_URL="postgres://u@127.0.0.1:1/nothing")
    result = run_manage("onboard", "--non-interactive", "--username", "pi", env=env)
    assert result.returncode == 2
    assert "cannot connect to the database in DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.process
@pytest.mark.services
def test_team_mode_migrates_postgresql_and_writes_worker_and_beat_units(
    services: dict[str, str], tmp_path: Path
) -> None:
    env = child_env(
        tmp_path / "data",
        DATABASE_URL=services["DATABASE_URL"],
        REDIS_URL=services["REDIS_URL"],
        DJANGO_SECRET_KEY="team-secret-" + "s" * 40,
        OPENCLAW_ENCRYPTION_KEY="dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM=",
        # The shared database's environment token: another value would revoke it.
        OPENCLAW_GATEWAY_TOKEN=TEAM_TOKEN,
        ONBOARD_PW=PASSWORD,
    )
    # The database outlives test runs: a name of its own each time.
    username = f"onboard-{secrets.token_hex(4)}"
    result = run_manage(
        *("onboard", "--json", "--username", username, "--password-env", "ONBOARD_PW"),
        *("--install-daemon", "--unit-dir", str(tmp_path / "units")),
        *("--env-file", str(tmp_path / "team.env")),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["mode"] == "team"
    assert body["steps"]["superuser"]["status"] == "created"
    assert body["gatewayToken"]["status"] == "environment"
    assert body["daemon"]["team"] is True
    names = sorted(p.name for p in (tmp_path / "units").iterdir())
    assert names == [
        "openclaw-beat.service",
        "openclaw-gateway.service",
        "openclaw-worker.service",
    ]
    env_text = (tmp_path / "team.env").read_text()
    assert f"REDIS_URL='{services['REDIS_URL']}'" in env_text
    assert f"OPENCLAW_GATEWAY_TOKEN='{TEAM_TOKEN}'" in env_text
    # Beat keeps its schedule in the data dir; nothing else is written there.
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == []


# --- interactive -------------------------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[str], list[str]]]:
    """Scripted answers: (to ``input``, to ``getpass``); each prompt takes the next one."""
    typed: list[str] = []
    hidden: list[str] = []

    def fake_input(prompt: str = "") -> str:
        assert typed, f"unexpected prompt {prompt!r}"
        return typed.pop(0)

    def fake_getpass(prompt: str = "Password: ", stream: Any = None) -> str:
        assert hidden, f"unexpected hidden prompt {prompt!r}"
        return hidden.pop(0)

    monkeypatch.setattr(builtins, "input", fake_input)
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    yield typed, hidden
    assert not typed, "answers left over"
    assert not hidden, "hidden answers left over"


@pytest.mark.django_db
def test_interactive_onboarding_asks_validates_and_asks_before_replacing(
    data_dir: Path, answers: tuple[list[str], list[str]]
) -> None:
    typed, hidden = answers
    typed += ["ada", "", "anthropic", ""]  # user, email, provider, model (the default)
    # A mismatch, then a weak password, then a good one; the key; a bad, then a good token.
    hidden += ["one-pass-1234", "another-9876", "123", "123", PASSWORD, PASSWORD, API_KEY]
    hidden += ["not-a-token", BOT_TOKEN]
    out = onboard(stdin=_Terminal())
    assert "Answering model: anthropic/claude-sonnet-4-6" in out
    user = get_user_model().objects.get()
    assert user.username == "ada"
    assert user.check_password(PASSWORD)
    assert ModelProvider.objects.get().provider == "anthropic"

    # Again: the admin user is kept without a question; a stored key or token is
    # replaced only after a yes.
    typed += ["anthropic", "n", "anthropic/claude-haiku-4-5", "y"]
    hidden += [OTHER_BOT_TOKEN]
    out = onboard(stdin=_Terminal())
    assert "Admin user: admin user 'ada' exists" in out
    assert ModelProvider.objects.get().api_key == API_KEY
    assert Agent.objects.get().model_primary == "anthropic/claude-haiku-4-5"
    account = ChannelAccount.objects.get()
    assert stored_secrets(account.credentials)["botToken"] == OTHER_BOT_TOKEN
    assert "bot token replaced" in out


@pytest.mark.django_db
def test_ctrl_c_at_a_prompt_changes_nothing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(builtins, "input", interrupted)
    with pytest.raises(SystemExit) as caught:
        onboard(stdin=_Terminal())
    assert caught.value.code == 1
    assert not data_dir.exists()
    assert not get_user_model().objects.exists()


# --- systemd units -----------------------------------------------------------------------
def _units(tmp_path: Path, *extra: str) -> tuple[Path, Path, str]:
    unit_dir, env_file = tmp_path / "units", tmp_path / "conf" / "gateway.env"
    out = onboard(
        *full("--install-daemon", "--unit-dir", str(unit_dir), "--env-file", str(env_file)),
        *extra,
    )
    return unit_dir, env_file, out


@pytest.mark.django_db
def test_install_daemon_writes_a_user_unit_and_a_private_env_file(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("OPENCLAW_WORKER_THREADS", "2")
    monkeypatch.setenv("UNRELATED_SECRET", "not-for-the-gateway")
    unit_dir, env_file, out = _units(tmp_path)

    assert sorted(p.name for p in unit_dir.iterdir()) == ["openclaw-gateway.service"]
    unit = (unit_dir / "openclaw-gateway.service").read_text()
    python = str(Path(sys.executable).absolute())
    assert f"ExecStart={python} {MANAGE} gateway\n" in unit
    assert "\nRestart=always\n" in unit
    assert "RestartPreventExitStatus=2" in unit
    assert f"WorkingDirectory={settings.BASE_DIR}\n" in unit
    assert f'Environment="OPENCLAW_DATA_DIR={data_dir}"' in unit
    assert f"EnvironmentFile={env_file}\n" in unit
    assert "WantedBy=default.target" in unit
    assert "User=" not in unit
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    env_text = env_file.read_text()
    assert "LOG_LEVEL='debug'" in env_text
    assert "OPENCLAW_WORKER_THREADS='2'" in env_text
    assert "UNRELATED_SECRET" not in env_text
    assert "OPENCLAW_DATA_DIR" not in env_text
    assert "ONBOARD_KEY" not in env_text
    assert API_KEY not in env_text
    assert "systemctl --user daemon-reload" in out
    assert f"systemctl --user enable --now {unit_dir / 'openclaw-gateway.service'}" in out
    assert "loginctl enable-linger " in out


@pytest.mark.django_db
def test_install_daemon_in_team_mode_adds_worker_and_beat_system_units(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://openclaw:pw@db:5432/openclaw")
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")
    unit_dir, env_file, out = _units(tmp_path, "--team", "--system")

    names = sorted(p.name for p in unit_dir.iterdir())
    assert names == [
        "openclaw-beat.service",
        "openclaw-gateway.service",
        "openclaw-worker.service",
    ]
    worker = (unit_dir / "openclaw-worker.service").read_text()
    assert " -m celery -A openclaw_site worker -l info -Q default,llm,connectors" in worker
    assert "--hostname worker@%H\n" in worker
    assert "After=network-online.target" in worker
    beat = (unit_dir / "openclaw-beat.service").read_text()
    assert " -m celery -A openclaw_site beat -l info\n" in beat
    for text in (worker, beat, (unit_dir / "openclaw-gateway.service").read_text()):
        assert "\nRestart=always\n" in text
        assert "WantedBy=multi-user.target" in text
        assert f"\nUser={getpass.getuser()}\n" in text
    env_text = env_file.read_text()
    assert "DATABASE_URL='postgres://openclaw:pw@db:5432/openclaw'" in env_text
    assert "REDIS_URL='redis://redis:6379/0'" in env_text
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "sudo systemctl daemon-reload" in out
    assert "loginctl" not in out
    assert "openclaw-beat.service" in out
    assert "exactly one per installation" in out


@pytest.mark.django_db
def test_install_daemon_keeps_an_edited_unit_unless_told_and_tightens_the_env_file(
    data_dir: Path, tmp_path: Path, answers: tuple[list[str], list[str]]
) -> None:
    unit_dir, env_file, _ = _units(tmp_path)
    unit = unit_dir / "openclaw-gateway.service"
    unit.write_text(unit.read_text() + "# my edit\n")
    env_file.chmod(0o644)

    result = json.loads(_units(tmp_path, "--json")[2])
    statuses = {Path(f["path"]).name: f["status"] for f in result["daemon"]["files"]}
    assert statuses == {"openclaw-gateway.service": "kept", "gateway.env": "unchanged"}
    assert unit.read_text().endswith("# my edit\n")
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600

    typed, _hidden = answers
    typed += ["openai", "n", "", "n", "y"]  # provider kept, model default, token kept, replace
    out = onboard(
        *("--install-daemon", "--unit-dir", str(unit_dir), "--env-file", str(env_file)),
        stdin=_Terminal(),
    )
    assert f"{unit}: replaced" in out
    assert "# my edit" not in unit.read_text()


@pytest.mark.django_db
def test_the_units_pass_systemd_analyze_verify(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    monkeypatch.setenv("DATABASE_URL", "postgres://openclaw:pw@db:5432/openclaw")
    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    checks = {"user": ["--team"], "system": ["--team", "--system"], "embedded": []}
    for name, extra in checks.items():
        unit_dir, _env, _out = _units(tmp_path / name, *extra)
        scope = ["--user"] if "--system" not in extra else []
        result = subprocess.run(
            [analyze, *scope, "verify", *map(str, sorted(unit_dir.iterdir()))],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
            timeout=60,
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert "openclaw-" not in result.stderr, f"{name}: {result.stderr}"


# --- escaping, without a database -----------------------------------------------------------
def test_unit_values_are_escaped_for_systemd() -> None:
    assert exec_word("/opt/claw/.venv/bin/python") == "/opt/claw/.venv/bin/python"
    assert exec_word("/home/me/my claw/manage.py") == '"/home/me/my claw/manage.py"'
    assert exec_word("50%$HOME") == "50%%$$HOME"
    assert env_file_line("A", "x y#z") == "A='x y#z'"
    assert env_file_line("A", "it's $x") == 'A="it\'s \\$x"'
    with pytest.raises(ValueError, match="line break"):
        env_file_line("A", "one\ntwo")
