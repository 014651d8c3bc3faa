"""Where the gateway listens, and whether a restart is pending.

Port and bind are read once, at start, by precedence: a command-line flag
(``--port``, ``--bind``, ``--host``), then the environment (``OPENCLAW_GATEWAY_PORT``,
``OPENCLAW_GATEWAY_BIND``, ``OPENCLAW_GATEWAY_CUSTOM_HOST``), then the database
(``config set gateway.port|gateway.bind|gateway.customBindHost``), then the defaults
(18789 on loopback). Everything else in the database takes effect without a restart;
these, and the credentials (``OPENCLAW_GATEWAY_AUTH_MODE``, ``…_TOKEN``, ``…_PASSWORD``),
need one.

A running gateway writes what it started with, and where each value came from, to
``<data dir>/gateway.started.json`` (mode 600; the credentials only as a fingerprint).
``manage.py status`` compares it with what a start would use now: a value that came from
a flag is kept by a restart with the same flag, so only the others count.

``--bind tailnet`` listens on this machine's Tailscale address (100.64.0.0/10, or
fd7a:115c:a1e0::/48): the interface that has one, else ``tailscale ip -4``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import struct
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from agents.services.config import ConfigError
from gateway.models import ConfigEntry

PORT_PATH = "gateway.port"
BIND_PATH = "gateway.bind"
HOST_PATH = "gateway.customBindHost"
PATHS = (PORT_PATH, BIND_PATH, HOST_PATH)
BINDS = ("loopback", "lan", "tailnet", "custom")
BIND_HOSTS = {"loopback": "127.0.0.1", "lan": "0.0.0.0"}  # noqa: S104  (lan: every interface)
DEFAULT_PORT = 18789
TAILNET = (ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("fd7a:115c:a1e0::/48"))
SIOCGIFADDR = 0x8915
ENV = {PORT_PATH: "OPENCLAW_GATEWAY_PORT", BIND_PATH: "OPENCLAW_GATEWAY_BIND"}
ENV[HOST_PATH] = "OPENCLAW_GATEWAY_CUSTOM_HOST"
STARTED_FILE = "gateway.started.json"


class ListenError(Exception):
    """The address cannot be resolved; the message says what to change."""


@dataclass(frozen=True)
class Listen:
    port: int
    bind: str
    host: str
    # gateway.port / gateway.bind / gateway.customBindHost → flag | env | db | default
    sources: dict[str, str] = field(default_factory=dict)


# --- config set gateway.port|bind|customBindHost -------------------------------------
def validate(path: str, value: Any) -> Any:
    """The value to store for one of ``PATHS`` (None: reset to the default)."""
    if value is None:
        return None
    if path == PORT_PATH:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise ConfigError(f"{PORT_PATH} takes a port number 1-65535, e.g. 18789")
        return value
    if path == BIND_PATH:
        if value not in BINDS:
            raise ConfigError(f"{BIND_PATH} takes one of {', '.join(BINDS)}; got {value!r}")
        return value
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ConfigError(
            f"{HOST_PATH} takes an IP address of this machine, e.g. 192.168.1.10; got {value!r}"
        ) from None


def stored() -> dict[str, Any]:
    """The database's values; none when it is unreachable or not migrated yet (the
    gateway's own start-up checks then say what is wrong)."""
    try:
        return dict(ConfigEntry.objects.filter(path__in=PATHS).values_list("path", "value"))
    except DatabaseError:
        return {}


# --- resolution ------------------------------------------------------------------------
def _pick(path: str, flag: Any, stored: dict[str, Any], default: Any) -> tuple[Any, str]:
    if flag not in (None, ""):
        return flag, "flag"
    env_value = {
        PORT_PATH: settings.GATEWAY_PORT,
        BIND_PATH: settings.GATEWAY_BIND,
        HOST_PATH: settings.GATEWAY_CUSTOM_HOST,
    }[path]
    # Set in the environment (the settings read it), even to the default value.
    if os.environ.get(ENV[path], "").strip() or env_value not in (default, ""):
        return env_value, "env"
    if stored.get(path) is not None:
        return stored[path], "db"
    return default, "default"


def configured(stored: dict[str, Any]) -> dict[str, Any]:
    """gateway.port/bind/customBindHost as a start without flags would take them (env >
    ``stored``, the database's ConfigEntry values > default), for ``config get``."""
    out = {
        "port": _pick(PORT_PATH, None, stored, DEFAULT_PORT)[0],
        "bind": _pick(BIND_PATH, None, stored, "loopback")[0],
    }
    host = _pick(HOST_PATH, None, stored, "")[0]
    return {**out, "customBindHost": host} if host else out


def configured_port() -> int:
    return int(configured(stored())["port"])


def resolve(
    *, port: int | None = None, bind: str | None = None, host: str | None = None, db: bool = True
) -> Listen:
    """Where a gateway started now with these flags listens (flag > env > db > default)."""
    values = stored() if db else {}
    port_value, port_from = _pick(PORT_PATH, port, values, DEFAULT_PORT)
    if not 1 <= int(port_value) <= 65535:
        raise ListenError(f"--port {port_value} is out of range; use 1-65535")
    bind_value, bind_from = _pick(BIND_PATH, bind, values, "loopback")
    sources = {PORT_PATH: port_from, BIND_PATH: bind_from}
    if bind_value == "custom":
        host_value, sources[HOST_PATH] = _pick(HOST_PATH, host, values, "")
        if not str(host_value).strip():
            raise ListenError(
                "--bind custom needs an address: add --host 192.168.1.10 "
                f"(or set OPENCLAW_GATEWAY_CUSTOM_HOST, or config set {HOST_PATH})"
            )
        address = str(host_value).strip()
    else:
        if host:
            raise ListenError("--host only applies with --bind custom")
        address = tailnet_address() if bind_value == "tailnet" else BIND_HOSTS[bind_value]
    return Listen(port=int(port_value), bind=str(bind_value), host=address, sources=sources)


def _interface_addresses() -> list[str]:
    """IPv4 address of each network interface (Linux's SIOCGIFADDR)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                packed = fcntl.ioctl(
                    probe.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15])
                )
                found.append(socket.inet_ntoa(packed[20:24]))
    return found


def _is_tailnet(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in TAILNET)


def tailnet_address() -> str:
    """This machine's Tailscale address; ListenError when it has none."""
    for address in _interface_addresses():
        if _is_tailnet(address):
            return address
    tailscale = shutil.which("tailscale")
    if tailscale:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603  (a fixed argv)
                [tailscale, "ip", "-4"], capture_output=True, text=True, timeout=5, check=False
            ).stdout
            for line in out.split():
                if _is_tailnet(line.strip()):
                    return line.strip()
    raise ListenError(
        "--bind tailnet found no Tailscale address (100.64.0.0/10) on this machine: "
        "start Tailscale (`sudo tailscale up`) or use --bind loopback with an SSH tunnel"
    )


# --- the start record and a pending restart -------------------------------------------
def auth_fingerprint() -> str:
    """Changes when the gateway's own credentials or auth mode change; reveals nothing."""
    material = "\0".join(
        (settings.GATEWAY_AUTH_MODE, settings.GATEWAY_TOKEN, settings.GATEWAY_PASSWORD)
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _started_path() -> Path:
    return Path(settings.DATA_DIR) / STARTED_FILE


def record_start(listen: Listen) -> None:
    """Write what this gateway started with (best effort: status then says 'unknown')."""
    record = {**asdict(listen), "auth": auth_fingerprint(), "pid": os.getpid()}
    path = _started_path()
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)
        tmp.replace(path)


def clear_start() -> None:
    """A clean stop: forget this gateway's record (not another one's)."""
    path = _started_path()
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def _record() -> dict[str, Any] | None:
    try:
        record = json.loads(_started_path().read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def started(record: dict[str, Any] | None = None) -> Listen | None:
    """What the running gateway started with, or None when none left a record."""
    record = _record() if record is None else record
    if record is None:
        return None
    try:
        return Listen(
            port=int(record["port"]),
            bind=str(record["bind"]),
            host=str(record["host"]),
            sources=dict(record["sources"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def probe_address(port: int | None = None) -> tuple[str, int]:
    """Where a local command reaches the gateway: the running one's address (a tailnet
    or custom bind does not answer on loopback), else loopback and the configured port."""
    running = started()
    if running is None:
        return "127.0.0.1", port or configured_port()
    host = "127.0.0.1" if running.host in ("0.0.0.0", "::") else running.host  # noqa: S104
    return host, port or running.port


def pending_restart() -> list[dict[str, Any]] | None:
    """What a restart would change, or None when no running gateway left a record."""
    record = _record()
    running = started(record)
    if record is None or running is None:
        return None

    def flag(path: str, value: Any) -> Any:
        return value if running.sources.get(path) == "flag" else None

    try:
        now = resolve(
            port=flag(PORT_PATH, running.port),
            bind=flag(BIND_PATH, running.bind),
            host=flag(HOST_PATH, running.host),
        )
    except ListenError as exc:
        return [{"key": "gateway.bind", "running": running.bind, "configured": str(exc)}]
    changes = [
        {"key": key, "running": value, "configured": getattr(now, name)}
        for name, key, value in (
            ("port", PORT_PATH, running.port),
            ("bind", BIND_PATH, running.bind),
            ("host", "gateway.address", running.host),
        )
        if getattr(now, name) != value
    ]
    if record.get("auth") != auth_fingerprint():
        changes.append({"key": "gateway.auth", "running": "(as started)", "configured": "changed"})
    return changes
