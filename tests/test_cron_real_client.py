"""OpenClaw's own CLI (2026.9.6) manages cron jobs on a live gateway, and beat runs them.

``openclaw cron add|list|get|run|runs|rm`` against ``manage.py gateway`` (embedded mode:
the in-process beat ticks every second here). Needs the client scripts/install_clients.sh
installs; skips with one line without it, fails under REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.control_ui import OPENCLAW, cli_env, missing_cli
from tests.gateway_process import GatewayProcess, child_env

pytestmark = pytest.mark.process

TOKEN = "cron-client-token-0123456789abcdef"


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, skip_or_fail: Callable[[str], NoReturn]
) -> Iterator[GatewayProcess]:
    if (missing := missing_cli()) is not None:
        skip_or_fail(missing)
    data = tmp_path_factory.mktemp("cron-client") / "data"
    env = child_env(data, OPENCLAW_GATEWAY_TOKEN=TOKEN, OPENCLAW_CRON_TICK_SECONDS="1")
    gw = GatewayProcess(env).start()
    yield gw
    gw.stop()


def openclaw(tmp: Path, gateway: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    scratch = tmp / "oc"
    env = {
        **cli_env(scratch),
    }
    url = ["--url", f"ws://127.0.0.1:{gateway.port}", "--token", TOKEN]
    return subprocess.run(
        [str(OPENCLAW), "cron", *args, *url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def test_cron_add_then_list_shows_the_job(gateway: GatewayProcess, tmp_path: Path) -> None:
    added = as_json(
        openclaw(
            tmp_path,
            gateway,
            "add",
            "--name",
            "inbox",
            "--every",
            "1h",
            "--system-event",
            "check the inbox",
        )
    )
    assert (added["name"], added["sessionTarget"], added["payload"]) == (
        "inbox",
        "main",
        {"kind": "systemEvent", "text": "check the inbox"},
    )
    assert added["schedule"]["everyMs"] == 3_600_000

    plain = openclaw(tmp_path, gateway, "list")
    assert plain.returncode == 0, plain.stderr
    assert "inbox" in plain.stdout
    # The default agent's heartbeat is a job of its own, printed as OpenClaw prints it.
    row = next(line for line in plain.stdout.splitlines() if "heartbeat:main" in line)
    assert "Heartbeat (main)" in row
    assert "every 30m" in row
    listed = as_json(openclaw(tmp_path, gateway, "list", "--json"))
    by_name = {job["name"]: job for job in listed["jobs"]}
    assert set(by_name) == {"inbox", "heartbeat-main"}
    assert by_name["inbox"]["id"] == added["id"]
    assert by_name["inbox"]["status"] == "idle"
    heartbeat = by_name["heartbeat-main"]
    assert heartbeat["declarationKey"] == "heartbeat:main"
    assert heartbeat["displayName"] == "Heartbeat (main)"
    assert heartbeat["payload"] == {"kind": "heartbeat"}
    assert heartbeat["schedule"]["everyMs"] == 1_800_000
    assert heartbeat["state"]["nextRunAtMs"] % 1_800_000 == heartbeat["schedule"]["anchorMs"]
    refused = openclaw(tmp_path, gateway, "rm", heartbeat["id"])
    assert refused.returncode != 0
    assert "heartbeat of agent main" in refused.stderr + refused.stdout
    shown = as_json(openclaw(tmp_path, gateway, "get", added["id"]))
    assert shown["id"] == added["id"]
    assert as_json(openclaw(tmp_path, gateway, "rm", added["id"])) == {"ok": True, "removed": True}


def test_beat_runs_a_due_job_and_the_cli_reads_its_runs(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    ping = ("--name", "ping", "--every", "2s", "--system-event", "ping", "--wake", "next-heartbeat")
    added = as_json(openclaw(tmp_path, gateway, "add", *ping))
    entries: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(entries) < 2:
        time.sleep(1)
        entries = as_json(openclaw(tmp_path, gateway, "runs", added["id"]))["entries"]
    assert len(entries) >= 2, entries
    assert {e["status"] for e in entries} == {"ok"}
    assert len({e["runAtMs"] for e in entries}) == len(entries)  # never one slot twice

    manual = as_json(openclaw(tmp_path, gateway, "run", added["id"]))
    assert manual["ok"] is True
    assert manual["ran"] is True or manual.get("reason") == "already-running"
    assert as_json(openclaw(tmp_path, gateway, "rm", added["id"]))["removed"] is True


def test_bad_input_is_refused_with_the_reason(gateway: GatewayProcess, tmp_path: Path) -> None:
    result = openclaw(
        tmp_path, gateway, "add", "--name", "bad", "--cron", "61 * * * *", "--system-event", "x"
    )
    assert result.returncode != 0
    assert "cron expression" in result.stderr + result.stdout
    zone = openclaw(
        tmp_path, gateway, "add", "--name", "bad", "--cron", "0 9 * * *", "--tz", "Mars/Base",
        "--system-event", "x",
    )  # fmt: skip
    assert zone.returncode != 0
    listed = as_json(openclaw(tmp_path, gateway, "list", "--all", "--json"))
    assert all(job["name"] != "bad" for job in listed["jobs"])
