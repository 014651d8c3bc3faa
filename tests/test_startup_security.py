"""Start-up security, against the real ``manage.py gateway`` process.

Each bad setting stops start-up with one line and exit code 2 before anything is
written (the data dir stays as it was); weak credentials are refused beyond loopback;
an environment token that was replaced or removed stops working at the next start.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from tests.gateway_process import GatewayProcess, child_env, free_port, run_manage
from tests.openclaw_client import OpenClawClient

pytestmark = pytest.mark.process

STRONG = "9f3c2a7e51b04d8e6a1f3c5b7d9e0a2c4f6b8d0e1a3c5e7f"
VALID_FERNET = "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM="


def _snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under ``folder`` with its bytes (None when it does not exist)."""
    if not folder.exists():
        return None
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _bootstrap(env: dict[str, str]) -> None:
    for args in (("migrate", "-v0"), ("gateway_bootstrap",)):
        result = run_manage(*args, env=env)
        assert result.returncode == 0, result.stderr


def _assert_refused(result: object, *needles: str) -> str:
    returncode = getattr(result, "returncode", None)
    stderr = str(getattr(result, "stderr", ""))
    assert returncode == 2, (returncode, getattr(result, "stdout", ""), stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


BAD_SETTINGS = [
    ({"TZ": "Not/AZone"}, ["TZ='Not/AZone' is not a time zone", "IANA"]),
    ({"OPENCLAW_TIMEZONE": "Mars/Olympus"}, ["OPENCLAW_TIMEZONE", "not a time zone"]),
    ({"OPENCLAW_ENCRYPTION_KEY": "not-a-fernet-key"}, ["not a valid Fernet key", "generate"]),
    (
        {"OPENCLAW_ENCRYPTION_KEY": f"{VALID_FERNET},short"},
        ["key 2 is not a valid Fernet key"],
    ),
    ({"OPENCLAW_GATEWAY_TOKEN": "1234567"}, ["shorter than 8"]),
    ({"OPENAI_BASE_URL": "localhost:11434/v1"}, ["OPENAI_BASE_URL", "not a valid URL"]),
    ({"ANTHROPIC_BASE_URL": "http://"}, ["ANTHROPIC_BASE_URL", "not a valid URL"]),
    ({"OPENCLAW_GATEWAY_ALLOWED_ORIGINS": "ui.example"}, ["ALLOWED_ORIGINS", "not a valid URL"]),
    ({"OPENCLAW_TRUSTED_PROXIES": "nginx"}, ["OPENCLAW_TRUSTED_PROXIES", "not an IP address"]),
    ({"DATABASE_URL": "mysql://u@h/db"}, ["DATABASE_URL", "postgres://"]),
    ({"REDIS_URL": "http://localhost"}, ["REDIS_URL", "redis://"]),
    ({"OPENCLAW_WORKER_THREADS": "many"}, ["not a whole number"]),
]


@pytest.mark.parametrize(("extra", "needles"), BAD_SETTINGS, ids=lambda v: str(v)[:40])
def test_a_bad_setting_is_one_line_and_writes_nothing(
    tmp_path: Path, extra: dict[str, str], needles: list[str]
) -> None:
    data = tmp_path / "data"
    result = run_manage("gateway", "--port", str(free_port()), env=child_env(data, **extra))
    _assert_refused(result, *needles)
    assert not data.exists()


@pytest.mark.parametrize(
    ("extra", "needles"), BAD_SETTINGS[:4], ids=["tz", "agent-tz", "key", "key2"]
)
def test_a_bad_setting_leaves_an_existing_data_dir_as_it_was(
    tmp_path: Path, extra: dict[str, str], needles: list[str]
) -> None:
    data = tmp_path / "data"
    _bootstrap(child_env(data))
    before = _snapshot(data)
    result = run_manage("gateway", "--port", str(free_port()), env=child_env(data, **extra))
    _assert_refused(result, *needles)
    assert _snapshot(data) == before


def test_a_broken_key_file_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _bootstrap(child_env(data))
    (data / "encryption.key").write_text("garbage\n")
    before = _snapshot(data)
    result = run_manage("gateway", "--port", str(free_port()), env=child_env(data))
    _assert_refused(result, "encryption.key", "not a valid Fernet key", "backup")
    assert _snapshot(data) == before


def test_a_short_token_works_on_loopback_and_is_marked_weak(tmp_path: Path) -> None:
    """8-23 characters crashed bootstrap after the data dir was made; now it starts."""
    env = child_env(tmp_path / "data", OPENCLAW_GATEWAY_TOKEN="short-token-12")
    with GatewayProcess(env) as gw:
        assert gw.get("/health")[0] == 200
    listing = run_manage("gateway_token", "list", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "environment (OPENCLAW_GATEWAY_TOKEN)\tweak" in listing.stdout


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        ({"OPENCLAW_GATEWAY_PASSWORD": "a"}, ["weak OPENCLAW_GATEWAY_PASSWORD", "at least 24"]),
        (
            {"OPENCLAW_GATEWAY_PASSWORD": "password" * 4},
            ["weak OPENCLAW_GATEWAY_PASSWORD"],
        ),
        ({"OPENCLAW_GATEWAY_TOKEN": "short-token-12"}, ["weak OPENCLAW_GATEWAY_TOKEN"]),
        ({"OPENCLAW_GATEWAY_TOKEN": "ab" * 20}, ["weak OPENCLAW_GATEWAY_TOKEN"]),
    ],
    ids=["password-a", "password-repeated", "token-short", "token-repeated"],
)
def test_a_weak_credential_is_refused_beyond_loopback(
    tmp_path: Path, extra: dict[str, str], needles: list[str]
) -> None:
    data = tmp_path / "data"
    result = run_manage(
        "gateway", "--bind", "lan", "--port", str(free_port()), env=child_env(data, **extra)
    )
    _assert_refused(result, *needles)
    assert not data.exists()


def test_a_weak_stored_token_is_refused_beyond_loopback(tmp_path: Path) -> None:
    env = child_env(tmp_path / "data")
    _bootstrap(env)
    seeded = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from gateway.models import GatewayToken; "
        "t = GatewayToken.objects.get(); GatewayToken.objects.filter(pk=t.pk).update(strong=False); "
        "print(t.pk)",
        env=env,
    )
    assert seeded.returncode == 0, seeded.stderr
    pk = seeded.stdout.strip()
    result = run_manage("gateway", "--bind", "lan", "--port", str(free_port()), env=env)
    line = _assert_refused(result, f"gateway token {pk}", f"gateway_token revoke {pk}")
    assert "refusing to bind 0.0.0.0" in line
    # Rotated, it starts.
    assert run_manage("gateway_token", "revoke", pk, env=env).returncode == 0
    assert run_manage("gateway_token", "create", env=env).returncode == 0
    with GatewayProcess(env, "--bind", "lan") as gw:
        assert gw.get("/health")[0] == 200


async def _connects(url: str, token: str) -> bool:
    async with OpenClawClient(url) as client:
        res = await client.connect(token=token)
        return bool(res["ok"])


def test_a_changed_environment_token_stops_the_old_value(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old, new = "old-" + STRONG, "new-" + STRONG
    with GatewayProcess(child_env(data, OPENCLAW_GATEWAY_TOKEN=old)) as gw:
        assert asyncio.run(_connects(f"ws://127.0.0.1:{gw.port}/", old))
    with GatewayProcess(child_env(data, OPENCLAW_GATEWAY_TOKEN=new)) as gw:
        url = f"ws://127.0.0.1:{gw.port}/"
        assert not asyncio.run(_connects(url, old))
        assert asyncio.run(_connects(url, new))
    assert "OPENCLAW_GATEWAY_TOKEN changed" in gw.stderr
    listing = run_manage("gateway_token", "list", env=child_env(data)).stdout
    old_prefix, new_prefix = old[:6], new[:6]
    assert f"{old_prefix}…\tenvironment\trevoked\tenvironment (OPENCLAW_GATEWAY_TOKEN)" in listing
    assert f"{new_prefix}…\tenvironment\tactive\tenvironment (OPENCLAW_GATEWAY_TOKEN)" in listing
    # Unset: the environment token goes too, and a generated one takes over.
    with GatewayProcess(child_env(data)) as gw:
        assert not asyncio.run(_connects(f"ws://127.0.0.1:{gw.port}/", new))
        generated = (data / "gateway-token").read_text().strip()
        assert asyncio.run(_connects(f"ws://127.0.0.1:{gw.port}/", generated))
    assert hashlib.sha256(new.encode()).hexdigest() not in gw.stdout + gw.stderr


def test_a_revoked_value_set_again_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old, new = "old-" + STRONG, "new-" + STRONG
    for token in (old, new):
        _bootstrap(child_env(data, OPENCLAW_GATEWAY_TOKEN=token))
    result = run_manage(
        "gateway", "--port", str(free_port()), env=child_env(data, OPENCLAW_GATEWAY_TOKEN=old)
    )
    _assert_refused(result, "OPENCLAW_GATEWAY_TOKEN: this token was revoked", "choose a new value")
