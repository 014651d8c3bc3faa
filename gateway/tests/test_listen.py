"""Where the gateway listens: flag > environment > database > default, ``--bind tailnet``,
``config set gateway.port|bind|customBindHost``, and the restart ``status`` reports."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.services.config import ConfigError
from gateway import listen
from gateway.catalog.config import config_snapshot
from gateway.config_service import config_patch, config_set
from tests.gateway_process import GatewayProcess, child_env, run_manage

pytestmark = pytest.mark.django_db


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path) -> Any:
    for name in listen.ENV.values():
        monkeypatch.delenv(name, raising=False)
    settings.GATEWAY_PORT, settings.GATEWAY_BIND, settings.GATEWAY_CUSTOM_HOST = (
        18789,
        "loopback",
        "",
    )
    settings.DATA_DIR = tmp_path
    return settings


def test_defaults_then_database_then_environment_then_flag(
    clean_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = listen.resolve()
    assert (first.port, first.bind, first.host) == (18789, "loopback", "127.0.0.1")
    assert first.sources == {listen.PORT_PATH: "default", listen.BIND_PATH: "default"}

    config_set("gateway.port", 18800)
    config_set("gateway.bind", "lan")
    from_db = listen.resolve()
    assert (from_db.port, from_db.bind, from_db.host) == (18800, "lan", "0.0.0.0")  # noqa: S104
    assert from_db.sources[listen.PORT_PATH] == "db"

    monkeypatch.setenv("OPENCLAW_GATEWAY_PORT", "18900")
    clean_env.GATEWAY_PORT = 18900
    from_env = listen.resolve()
    assert from_env.port == 18900
    assert from_env.sources[listen.PORT_PATH] == "env"
    assert from_env.bind == "lan"  # the environment names no bind: the database's

    from_flag = listen.resolve(port=19000, bind="loopback")
    assert (from_flag.port, from_flag.host) == (19000, "127.0.0.1")
    assert from_flag.sources == {listen.PORT_PATH: "flag", listen.BIND_PATH: "flag"}


def test_custom_bind_takes_its_address_from_the_database_and_says_what_is_missing(
    clean_env: Any,
) -> None:
    config_set("gateway.bind", "custom")
    with pytest.raises(listen.ListenError, match=r"needs an address.*customBindHost"):
        listen.resolve()
    config_set("gateway.customBindHost", "127.0.0.2")
    assert listen.resolve().host == "127.0.0.2"
    with pytest.raises(listen.ListenError, match="--host only applies with --bind custom"):
        listen.resolve(bind="lan", host="10.0.0.1")


def test_config_get_shows_what_a_start_would_take(clean_env: Any) -> None:
    config_patch({"gateway": {"port": 18801, "bind": "lan"}})
    gateway = config_snapshot()["config"]["gateway"]
    assert (gateway["port"], gateway["bind"]) == (18801, "lan")
    config_set("gateway.port", None)  # unset: back to the default
    assert config_snapshot()["config"]["gateway"]["port"] == 18789


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("gateway.port", 0, "port number 1-65535"),
        ("gateway.port", "18789", "port number 1-65535"),
        ("gateway.port", True, "port number 1-65535"),
        ("gateway.bind", "everywhere", "one of loopback, lan, tailnet, custom"),
        ("gateway.customBindHost", "my-laptop", "an IP address of this machine"),
    ],
)
def test_bad_values_are_named_and_nothing_is_stored(
    clean_env: Any, path: str, value: Any, error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        config_set(path, value)
    assert listen.resolve().sources[listen.PORT_PATH] == "default"


def test_the_config_command_refuses_a_bad_bind_with_exit_code_2(clean_env: Any) -> None:
    with pytest.raises(CommandError, match="one of loopback, lan, tailnet, custom") as info:
        call_command("config", "set", "gateway.bind", "wan", stdout=io.StringIO())
    assert info.value.returncode == 2


def test_tailnet_takes_the_tailscale_address_or_says_how_to_get_one(
    clean_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listen, "_interface_addresses", lambda: ["127.0.0.1", "100.101.7.9"])
    assert listen.resolve(bind="tailnet").host == "100.101.7.9"
    monkeypatch.setattr(listen, "_interface_addresses", lambda: ["127.0.0.1", "192.168.1.4"])
    monkeypatch.setattr("gateway.listen.shutil.which", lambda _name: None)
    with pytest.raises(listen.ListenError, match=r"no Tailscale address.*tailscale up"):
        listen.resolve(bind="tailnet")


def test_this_machines_interfaces_are_read() -> None:
    assert "127.0.0.1" in listen._interface_addresses()


def test_pending_restart_compares_the_record_with_what_a_start_would_take(
    clean_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert listen.pending_restart() is None  # no running gateway left a record
    listen.record_start(listen.resolve())
    record = Path(clean_env.DATA_DIR) / listen.STARTED_FILE
    assert record.stat().st_mode & 0o777 == 0o600
    assert clean_env.GATEWAY_TOKEN not in record.read_text() or not clean_env.GATEWAY_TOKEN
    assert listen.pending_restart() == []

    config_set("gateway.port", 18850)
    clean_env.GATEWAY_TOKEN = "another-token-0123456789abcdef"
    pending = {change["key"]: change for change in listen.pending_restart() or []}
    assert pending["gateway.port"] == {
        "key": "gateway.port",
        "running": 18789,
        "configured": 18850,
    }
    assert "gateway.auth" in pending

    listen.clear_start()
    assert not record.exists()


def test_a_value_given_as_a_flag_is_not_pending(clean_env: Any) -> None:
    listen.record_start(listen.resolve(port=19001))
    config_set("gateway.port", 18850)  # a restart with --port 19001 keeps 19001
    assert listen.pending_restart() == []


@pytest.mark.process
def test_status_reports_a_pending_restart_of_a_live_gateway(tmp_path: Path) -> None:
    env = child_env(tmp_path / "data", OPENCLAW_MODEL="placeholder/echo")
    record = tmp_path / "data" / listen.STARTED_FILE
    with GatewayProcess(env) as gw:
        assert json.loads(record.read_text())["sources"]["gateway.port"] == "flag"
        result = run_manage("status", "--json", "--port", str(gw.port), env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["gateway"]["restart"] == {"known": True, "pending": []}

        assert run_manage("config", "set", "gateway.bind", "lan", env=env).returncode == 0
        result = run_manage("status", "--port", str(gw.port), env=env)
        assert "restart pending: gateway.bind is loopback in the running gateway" in result.stdout
        body = json.loads(run_manage("status", "--json", "--port", str(gw.port), env=env).stdout)
        keys = [change["key"] for change in body["gateway"]["restart"]["pending"]]
        assert keys == ["gateway.bind", "gateway.address"]
    assert not record.exists()  # a clean stop forgets it


def test_status_probes_the_running_gateways_own_address(clean_env: Any) -> None:
    assert listen.probe_address() == ("127.0.0.1", 18789)
    assert listen.probe_address(19005) == ("127.0.0.1", 19005)
    listen.record_start(listen.Listen(port=18790, bind="tailnet", host="100.101.7.9"))
    assert listen.probe_address() == ("100.101.7.9", 18790)
    listen.record_start(listen.Listen(port=18791, bind="lan", host="0.0.0.0"))  # noqa: S104
    assert listen.probe_address() == ("127.0.0.1", 18791)
