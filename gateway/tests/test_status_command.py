"""``manage.py status``: what an operator checks first, in text and --json."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command

from agents.models import Agent
from channels_app.tests.factories import ChannelAccountFactory
from tests.gateway_process import GatewayProcess, child_env, free_port, run_manage

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("status", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_a_stopped_gateway_is_reported_with_what_to_run(settings: Any) -> None:
    Agent.objects.create(slug="main", name="Main", is_default=True)
    ChannelAccountFactory.create(last_error="Unauthorized: the token was revoked")
    code, out = _run("--port", str(free_port()))
    assert code == 1
    assert "Gateway: not answering" in out
    assert "start it: manage.py gateway" in out
    assert "Database: sqlite" in out or "Database: postgresql" in out
    assert "last error: Unauthorized: the token was revoked" in out
    assert "Sessions: 0" in out

    code, out = _run("--json", "--port", str(free_port()))
    body = json.loads(out)
    assert body["gateway"]["up"] is False
    assert body["database"]["ok"] is True
    assert body["channels"][0]["lastError"] == "Unauthorized: the token was revoked"
    assert body["model"]["defaultAgent"] == "main"


@pytest.mark.process
def test_a_running_gateway_is_up(tmp_path: Any) -> None:
    env = child_env(tmp_path / "data", OPENCLAW_MODEL="placeholder/echo")
    with GatewayProcess(env) as gw:
        result = run_manage("status", "--json", "--port", str(gw.port), env=env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["gateway"]["up"] is True
    assert body["gateway"]["uptimeMs"] >= 0
    assert body["workers"]["mode"] == "embedded"
    assert body["model"]["model"] == "placeholder/echo"
