"""The deployment files, checked without a Docker engine (none runs in CI).

``docker/compose.yml`` parses and has the team topology (gateway x2, worker x2, one beat,
postgres, redis, nginx, named volumes, secrets from an env file); its services run the
same programs with the same arguments as the real processes of the cluster tests
(``tests/cluster.py``'s ``COMMANDS``), and so do the systemd units; the image is slim,
non-root, health-checked on ``/health`` and names no CPU architecture; nginx upgrades
WebSockets and has no sticky sessions.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import COMMANDS, VARIABLE

DOCKER = Path(__file__).resolve().parent.parent / "docker"
SECRETS = ("DJANGO_SECRET_KEY", "OPENCLAW_ENCRYPTION_KEY", "OPENCLAW_GATEWAY_TOKEN")
APP_SERVICES = ("migrate", "gateway", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DOCKER / "compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _directives(path: Path, comment: str = "#") -> list[str]:
    """The file's lines without comments and blank lines, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    lines = (line.split(comment, 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def _normal(argv: Sequence[str]) -> list[str]:
    """``--opt=value`` as two words, and a program by its name (not its path)."""
    words = [Path(argv[0]).name]
    for word in argv[1:]:
        words.extend(word.split("=", 1) if word.startswith("--") and "=" in word else [word])
    return words


def _same_command(template: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether ``actual`` is ``template`` with its ``{placeholders}`` filled in somehow."""
    want, got = _normal(template), _normal(actual)
    if len(want) != len(got):
        return False
    for pattern, word in zip(want, got, strict=True):
        # Only where to listen, thread counts and node names may differ.
        assert set(re.findall(r"\{(\w+)\}", pattern)) <= set(VARIABLE), pattern
        regex = re.sub(r"\\\{\w+\\\}", ".+", re.escape(pattern))
        if not re.fullmatch(regex, word):
            return False
    return True


def _assert_same(service: str, actual: Sequence[Sequence[str]]) -> None:
    expected = COMMANDS[service]
    assert len(actual) == len(expected), (service, actual)
    for template, command in zip(expected, actual, strict=True):
        assert _same_command(template, command), (
            f"{service}: {shlex.join(command)} is not the tests' {shlex.join(template)}"
        )


# --- compose ------------------------------------------------------------------------------
def test_compose_has_the_team_topology(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "gateway", "worker", "beat", "nginx"}
    assert services["gateway"]["deploy"]["replicas"] == 2
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    # Named volumes for what must survive: the database and beat's schedule.
    assert set(compose["volumes"]) >= {"pgdata", "beat-data"}
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert any(v.startswith("beat-data:") for v in services["beat"]["volumes"])
    # nginx is the only way in; the gateways are not published.
    assert services["nginx"]["ports"]
    assert "ports" not in services["gateway"]
    for name in ("gateway", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }


def test_compose_takes_the_secrets_from_an_env_file(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        service = compose["services"][name]
        env_files = service["env_file"]
        assert {"path": ".env", "required": True} in env_files, name
        environment = service["environment"]
        assert not set(SECRETS) & set(environment), f"{name} names a secret in environment"
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["REDIS_URL"].startswith("redis://")
    # The env file stays out of the image's build context.
    assert ".env" in _directives(DOCKER / "Dockerfile.dockerignore")


def test_compose_runs_the_commands_the_cluster_tests_run(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("gateway", "worker", "beat"):
        _assert_same(name, [services[name]["command"]])
    shell, flag, script = services["migrate"]["command"]
    assert (shell, flag) == ("sh", "-c")
    _assert_same("migrate", [shlex.split(part) for part in script.split("&&")])


def test_systemd_units_run_the_same_commands() -> None:
    units = {"gateway": "web", "worker": "worker", "beat": "beat", "migrate": "migrate"}
    for service, unit in units.items():
        directives = _directives(DOCKER / "systemd" / f"openclaw-{unit}.service")
        starts = [
            shlex.split(line.split("=", 1)[1])
            for line in directives
            if line.startswith("ExecStart=")
        ]
        _assert_same(service, starts)


def test_the_command_check_notices_a_difference() -> None:
    [worker] = COMMANDS["worker"]
    filled = [w.replace("{concurrency}", "8").replace("{node}", "worker@%h") for w in worker]
    assert _same_command(worker, filled)
    assert not _same_command(worker, [w.replace("threads", "prefork") for w in filled])
    assert not _same_command(worker, filled[:-1])
    assert not _same_command(worker, [*filled, "--without-mingle"])


# --- the image ----------------------------------------------------------------------------
def test_the_image_is_slim_non_root_health_checked_and_multi_arch() -> None:
    lines = _directives(DOCKER / "Dockerfile")
    froms = [line for line in lines if line.upper().startswith("FROM ")]
    base = next(line for line in lines if line.startswith("ARG PYTHON_IMAGE="))
    assert base.endswith("-slim"), base
    assert froms
    assert all("${PYTHON_IMAGE}" in line for line in froms), froms
    # The last USER is unprivileged (a uid, not root).
    user = [line for line in lines if line.startswith("USER ")][-1].split()[1]
    assert user.split(":")[0] not in ("root", "0"), user
    [health] = [line for line in lines if line.startswith("HEALTHCHECK ")]
    assert "/health" in health
    assert "CMD" in health
    # Nothing tied to one CPU: no --platform, no architecture names, no downloaded binaries.
    for line in lines:
        assert "--platform" not in line, line
        assert not re.search(r"amd64|x86_64|aarch64|arm64|armv7", line), line
        assert not re.search(r"\b(curl|wget)\b", line), line


# --- nginx --------------------------------------------------------------------------------
def test_nginx_upgrades_websockets_without_sticky_sessions() -> None:
    lines = _directives(DOCKER / "nginx.conf")
    assert "proxy_http_version 1.1;" in lines
    assert "proxy_set_header Upgrade $http_upgrade;" in lines
    assert "proxy_set_header Connection $connection_upgrade;" in lines
    assert "map $http_upgrade $connection_upgrade {" in lines
    for line in lines:
        assert not re.match(r"(ip_hash|hash|sticky)\b", line), f"sticky routing: {line}"
    # Long-lived sockets are not cut by nginx's 60 s default.
    timeout = next(line for line in lines if line.startswith("proxy_read_timeout "))
    assert int(timeout.split()[1].rstrip("s;")) >= 3600
