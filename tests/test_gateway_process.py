"""The ``gateway`` command as a real process: start-up, first run, shutdown, bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import TEAM_TOKEN, GatewayProcess, child_env, free_port, run_manage

pytestmark = pytest.mark.process

SEED_EXPIRED_WORK = """
import json
from datetime import timedelta
from django.utils import timezone
from agents.models import Agent, Run
from channels_app.models import ChannelAccount, InboundMessage, OutboundMessage
from sessions_app.models import Session
past = timezone.now() - timedelta(minutes=10)
future = timezone.now() + timedelta(minutes=10)
agent, _ = Agent.objects.get_or_create(slug="main", defaults={"is_default": True})
session = Session.objects.create(key="agent:main:main", agent_slug="main")
Run.objects.create(run_id="expired", agent=agent, session=session, status="running",
                   lease_owner="dead-worker", lease_expires_at=past)
Run.objects.create(run_id="live", agent=agent, session=session, status="running",
                   lease_owner="live-worker", lease_expires_at=future)
account = ChannelAccount.objects.create(kind="telegram")
InboundMessage.objects.create(account=account, external_id="1", sender_id="42", chat_id="42",
                              received_at=past, status="processing", lease_expires_at=past)
OutboundMessage.objects.create(account=account, chat_id="42", text="hi", status="sending",
                               lease_expires_at=past)
"""

READ_WORK = """
import json
from agents.models import Run
from channels_app.models import InboundMessage, OutboundMessage
print(json.dumps({
    "runs": dict(Run.objects.values_list("run_id", "status")),
    "inbound": list(InboundMessage.objects.values_list("status", flat=True)),
    "outbound": list(OutboundMessage.objects.values_list("status", flat=True)),
}))
"""


def _shell(env: dict[str, str], code: str) -> str:
    result = run_manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _assert_one_line_error(result: Any, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_first_run_bootstraps_and_prints_the_token_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = child_env(data)
    with GatewayProcess(env) as gw:
        status, body = gw.get("/health")
        assert status == 200
        assert body["ok"] is True
        assert body["status"] == "live"
        status, body = gw.get("/ready")
        assert status == 200
        assert body["checks"]["database"]["ok"] is True
    first_out = gw.stdout
    token_file = data / "gateway-token"
    token = token_file.read_text().strip()
    assert len(token) == 48
    assert token in first_out
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "secret_key").stat().st_mode) == 0o600
    # The database and its lock file are private (the WAL is gone after a clean stop).
    for name in ("gateway.sqlite3", "gateway.sqlite3.lock"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    assert "Created agent 'main'" in first_out

    agents = _shell(
        env,
        "from agents.models import Agent; print(list(Agent.objects.values_list('slug', 'is_default')))",
    )
    assert "('main', True)" in agents
    # The database keeps only the hash.
    hashes = _shell(
        env,
        "from gateway.models import GatewayToken; print(list(GatewayToken.objects.values_list('token_hash', flat=True)))",
    )
    assert token not in hashes

    with GatewayProcess(env) as gw2:
        assert gw2.get("/health")[0] == 200
    assert token not in gw2.stdout + gw2.stderr
    assert f"Gateway token: stored in {token_file}" in gw2.stdout
    assert "Created agent" not in gw2.stdout


def test_token_from_environment_generates_none(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = child_env(data, OPENCLAW_GATEWAY_TOKEN="env-token-0123456789abcdefghij")
    with GatewayProcess(env) as gw:
        assert gw.get("/health")[0] == 200
    assert "from OPENCLAW_GATEWAY_TOKEN" in gw.stdout
    assert "env-token-0123456789abcdefghij" not in gw.stdout + gw.stderr
    assert not (data / "gateway-token").exists()
    sources = _shell(
        env,
        "from gateway.models import GatewayToken; print(list(GatewayToken.objects.values_list('source', flat=True)))",
    )
    assert sources.strip() == "['environment']"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_it_shuts_down_cleanly_within_five_seconds(tmp_path: Path, sig: int) -> None:
    gw = GatewayProcess(child_env(tmp_path / "data")).start()
    # A client mid-connection must not hold the shutdown up.
    with socket.create_connection(("127.0.0.1", gw.port)):
        elapsed = gw.stop(sig)
    assert gw.proc is not None
    assert gw.proc.returncode == 0, gw.stderr
    assert elapsed < 5.0
    assert "Gateway stopped" in gw.stdout
    assert "Traceback" not in gw.stderr


def test_startup_recovers_work_whose_lease_expired(tmp_path: Path) -> None:
    env = child_env(tmp_path / "data")
    assert run_manage("migrate", "-v0", env=env).returncode == 0
    _shell(env, SEED_EXPIRED_WORK)
    with GatewayProcess(env) as gw:
        assert gw.get("/health")[0] == 200
    assert "Recovered work" in gw.stdout
    state = json.loads(_shell(env, READ_WORK))
    assert state["runs"] == {"expired": "queued", "live": "running"}
    # Handed back, then driven by their tasks: the unknown sender gets a pairing code
    # (the message itself is kept, not answered), and every send fails for good, as the
    # account has no bot token (a permanent error, never retried).
    assert state["inbound"] == ["ignored"]
    assert set(state["outbound"]) == {"failed"}


def test_embedded_beat_and_worker_sweep_expired_leases(tmp_path: Path) -> None:
    """Beat fires the sweep task on the in-process worker while the gateway runs."""
    env = child_env(tmp_path / "data", OPENCLAW_SWEEP_INTERVAL_SECONDS="5")
    with GatewayProcess(env):
        _shell(env, SEED_EXPIRED_WORK)
        deadline = time.monotonic() + 20
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = json.loads(_shell(env, READ_WORK))
            # The sweep hands back one kind of work after another: wait for both (the
            # outbox row is then sent at once: it fails for good, the account has no token).
            if state["runs"].get("expired") == "queued" and "sending" not in state["outbound"]:
                break
            time.sleep(0.5)
    assert state["runs"] == {"expired": "queued", "live": "running"}
    # The seeded row, and the pairing-code reply to the seeded message once it was
    # re-driven: handed back, then failed for good (no token), never left sending.
    assert state["outbound"]
    assert set(state["outbound"]) <= {"pending", "failed"}


# --- bad input: one clear line, exit code 2, nothing written -------------------------


def test_port_in_use_is_one_line_and_touches_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_manage("gateway", "--port", str(port), env=child_env(data))
    _assert_one_line_error(result, "already in use", "--port")
    assert not data.exists()


def test_port_in_use_leaves_an_existing_data_dir_untouched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = child_env(data)

    def files() -> dict[str, int]:
        # Not SQLite's -wal and -shm: the running gateway writes its own node heartbeats
        # there every few seconds (gateway.node_member).
        return {
            p.name: p.stat().st_mtime_ns
            for p in data.iterdir()
            if not p.name.endswith(("-wal", "-shm"))
        }

    with GatewayProcess(env) as gw:
        before = files()
        result = run_manage("gateway", "--port", str(gw.port), env=env)
        after = files()
    _assert_one_line_error(result, "already in use")
    assert before == after


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        ({"DJANGO_DEBUG": "ture"}, ["DJANGO_DEBUG", "boolean"]),
        ({"DATABASE_URL": "mysql://u@h/db"}, ["DATABASE_URL", "postgres://"]),
        ({"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}, ["cannot connect", "PostgreSQL"]),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, ["REDIS_URL", "redis://"]),
        ({"OPENCLAW_GATEWAY_PORT": "eighty"}, ["OPENCLAW_GATEWAY_PORT", "whole number"]),
        ({"LOG_FORMAT": "xml"}, ["LOG_FORMAT"]),
    ],
)
def test_bad_environment_is_one_line(
    tmp_path: Path, extra: dict[str, str], needles: list[str]
) -> None:
    data = tmp_path / "data"
    result = run_manage("gateway", "--port", str(free_port()), env=child_env(data, **extra))
    _assert_one_line_error(result, *needles)
    assert not data.exists()


def test_unreachable_redis_is_one_line(tmp_path: Path) -> None:
    env = child_env(
        tmp_path / "data",
        REDIS_URL="redis://127.0.0.1:1/0",
        DATABASE_URL="sqlite:///" + str(tmp_path / "x.sqlite3"),
        OPENCLAW_DEPLOYMENT="team",
        DJANGO_SECRET_KEY="k" * 10 + "0123456789abcdefghijklmnopqrstuvwxyz",
        OPENCLAW_ENCRYPTION_KEY="dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM=",
    )
    result = run_manage("gateway", "--port", str(free_port()), env=env)
    _assert_one_line_error(result, "cannot reach Redis")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; permissions cannot be tested")
def test_unreadable_data_dir_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o000)
    try:
        result = run_manage("gateway", "--port", str(free_port()), env=child_env(data))
    finally:
        data.chmod(0o700)
    _assert_one_line_error(result, "not readable")


def test_data_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("not a folder")
    result = run_manage("gateway", "--port", str(free_port()), env=child_env(data))
    _assert_one_line_error(result, "not a directory")
    assert data.read_text() == "not a folder"


@pytest.mark.parametrize(
    ("args", "extra", "needles"),
    [
        (
            ["--bind", "lan"],
            {"OPENCLAW_GATEWAY_TOKEN": "short"},
            ["shorter than 8", "openssl rand"],
        ),
        (["--bind", "lan"], {"OPENCLAW_GATEWAY_TOKEN": "a" * 40}, ["weak"]),
        (["--bind", "custom"], {}, ["--host"]),
        (["--host", "10.0.0.1"], {}, ["--bind custom"]),
        (["--port", "70000"], {}, ["out of range"]),
    ],
)
def test_bad_arguments_are_one_line(
    tmp_path: Path, args: list[str], extra: dict[str, str], needles: list[str]
) -> None:
    data = tmp_path / "data"
    result = run_manage("gateway", *args, env=child_env(data, **extra))
    _assert_one_line_error(result, *needles)
    assert not data.exists()


@pytest.mark.services
def test_it_runs_on_postgresql_and_redis(services: dict[str, str], tmp_path: Path) -> None:
    env = child_env(
        tmp_path / "data",
        DATABASE_URL=services["DATABASE_URL"],
        REDIS_URL=services["REDIS_URL"],
        DJANGO_SECRET_KEY="team-secret-" + "s" * 40,
        OPENCLAW_ENCRYPTION_KEY="dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM=",
        OPENCLAW_GATEWAY_TOKEN=TEAM_TOKEN,
    )
    assert run_manage("migrate", "-v0", env=env).returncode == 0
    with GatewayProcess(env) as gw:
        status, body = gw.get("/ready")
        assert status == 200, body
        assert body["checks"]["database"]["ok"] is True
        assert body["checks"]["redis"]["ok"] is True
        assert gw.get("/health")[0] == 200
    assert "team mode" in gw.stdout
    assert "from OPENCLAW_GATEWAY_TOKEN" in gw.stdout
    assert gw.proc is not None
    assert gw.proc.returncode == 0
    # Team mode keeps no files: every secret comes from the environment.
    assert not (tmp_path / "data").exists()


def test_sigterm_sends_the_shutdown_event_then_closes_1012(tmp_path: Path) -> None:
    import asyncio

    import websockets

    token = "shutdown-token-0123456789abcdef"
    gw = GatewayProcess(child_env(tmp_path / "data", OPENCLAW_GATEWAY_TOKEN=token)).start()

    async def scenario() -> tuple[list[dict[str, Any]], int | None]:
        async with websockets.connect(f"ws://127.0.0.1:{gw.port}/") as ws:
            await ws.recv()  # connect.challenge
            await ws.send(
                json.dumps(
                    {
                        "type": "req",
                        "id": "c",
                        "method": "connect",
                        "params": {
                            "minProtocol": 4,
                            "maxProtocol": 4,
                            "client": {
                                "id": "cli",
                                "version": "t",
                                "platform": "linux",
                                "mode": "cli",
                            },
                            "auth": {"token": token},
                            "role": "operator",
                            "scopes": ["operator.read"],
                        },
                    }
                )
            )
            assert json.loads(await ws.recv())["ok"] is True
            assert gw.proc is not None
            gw.proc.send_signal(signal.SIGTERM)
            frames: list[dict[str, Any]] = []
            try:
                while True:
                    frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            except websockets.ConnectionClosed as closed:
                return frames, closed.rcvd.code if closed.rcvd else None

    frames, code = asyncio.run(scenario())
    gw.stop()
    shutdown = [f for f in frames if f.get("event") == "shutdown"]
    assert shutdown, frames
    assert shutdown[0]["payload"]["reason"]
    assert code == 1012
    assert gw.proc is not None
    assert gw.proc.returncode == 0
