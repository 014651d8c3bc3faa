"""Browser origin rules (OpenClaw 2026.9.6 ``checkBrowserOrigin``), over real WebSockets.

Each rule lets its page in; everything else gets OpenClaw's refusal: INVALID_REQUEST
"origin not allowed (open the Control UI …)" with ``details.code``
CONTROL_UI_ORIGIN_NOT_ALLOWED, then close 1008. Among the refused: the ClawJacked case (a
page on another site opening a socket to the gateway on the user's own machine), a DNS
rebinding page, and a loopback page that came through a proxy. One test runs a live
gateway process and connects over TCP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from agents.services.config import ConfigError
from gateway import origins, proxies, state
from gateway.catalog.config import config_document
from gateway.config_service import config_patch, config_set
from gateway.models import ConfigEntry
from gateway.origins import ALLOWED_ORIGINS_PATH, HOST_FALLBACK_PATH, OriginPolicy
from gateway.ratelimit import auth_rate_limiter
from gateway.services import gateway_token_create
from tests.gateway_process import GatewayProcess, child_env
from tests.openclaw_client import InProcessClient, OpenClawClient, release_worker_db_connections

TOKEN = "origin-test-token-" + "0123456789abcdef" * 2
LOOPBACK = ("127.0.0.1", 50123)
LAN_PEER = ("192.168.1.50", 40001)
REMOTE = ("203.0.113.7", 40001)
HOST = "127.0.0.1:18789"
REFUSAL = (
    "origin not allowed (open the Control UI from the gateway host or allow it in "
    "gateway.controlUi.allowedOrigins)"
)


@pytest.fixture(autouse=True)
def _clean(settings: Any) -> Iterator[None]:
    settings.GATEWAY_AUTH_MODE = "token"
    settings.GATEWAY_ALLOWED_ORIGINS = []
    settings.GATEWAY_TRUSTED_PROXIES = []
    settings.AUTH_RATE_LIMIT_EXEMPT_LOOPBACK = True
    auth_rate_limiter.reset()
    proxies.forget()
    origins.forget()
    state.health_reset()
    yield
    auth_rate_limiter.reset()
    proxies.forget()
    origins.forget()
    state.health_reset()


@pytest_asyncio.fixture
async def door(transactional_db: None) -> AsyncIterator[None]:
    await sync_to_async(gateway_token_create)(name="admin", token=TOKEN)
    yield
    await release_worker_db_connections()


async def _connect(
    origin: str | None,
    *,
    host: str = HOST,
    peer: tuple[str, int] = LOOPBACK,
    headers: dict[str, str] | None = None,
    client_id: str = "openclaw-control-ui",
    mode: str = "webchat",
) -> tuple[dict[str, Any], int | None]:
    """Connect as a browser page would; return the ``connect`` answer and the close code."""
    sent = {"Host": host, **(headers or {})}
    if origin is not None:
        sent["Origin"] = origin
    async with InProcessClient(client=peer, headers=sent) as client:
        res = await client.connect(token=TOKEN, client_id=client_id, mode=mode)
        if res["ok"]:
            return res, None
        code, _ = await client.wait_closed()
        return res, code


def _assert_refused(
    res: dict[str, Any], code: int | None, reason: str = "origin not allowed"
) -> None:
    assert not res["ok"], res
    assert res["error"]["code"] == "INVALID_REQUEST"
    assert res["error"]["message"] == REFUSAL
    assert res["error"]["details"] == {"code": "CONTROL_UI_ORIGIN_NOT_ALLOWED", "reason": reason}
    assert code == 1008


# --- each rule lets its page in ------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("origin", "host", "peer"),
    [
        # local-loopback: a dev server or `python -m http.server` beside the gateway
        ("http://127.0.0.1:5173", HOST, LOOPBACK),
        ("http://localhost:8000", HOST, LOOPBACK),
        ("http://[::1]:5173", "[::1]:18789", ("::1", 50000)),
        # private-same-origin: the page the gateway itself serves, on a trusted host
        (f"http://{HOST}", HOST, LOOPBACK),
        ("http://192.168.1.20:18789", "192.168.1.20:18789", LAN_PEER),
        ("http://10.0.0.2:18789", "10.0.0.2:18789", REMOTE),
        ("http://[fd12:3456::1]:18789", "[fd12:3456::1]:18789", REMOTE),
        ("http://raspberrypi.local:18789", "raspberrypi.local:18789", LAN_PEER),
        ("https://pi.tail1234.ts.net", "pi.tail1234.ts.net", LOOPBACK),
    ],
)
async def test_each_built_in_rule_accepts_its_page(
    door: None, origin: str, host: str, peer: tuple[str, int]
) -> None:
    res, _ = await _connect(origin, host=host, peer=peer)
    assert res["ok"], res


@pytest.mark.asyncio
async def test_the_allowlist_from_the_environment_and_from_config(
    settings: Any, door: None
) -> None:
    settings.GATEWAY_ALLOWED_ORIGINS = ["https://ui.example"]
    res, _ = await _connect("https://ui.example", peer=REMOTE)
    assert res["ok"], res
    res, code = await _connect("https://other.example", peer=REMOTE)
    _assert_refused(res, code)

    await sync_to_async(config_set)(ALLOWED_ORIGINS_PATH, ["https://other.example"])
    res, _ = await _connect("https://other.example", peer=REMOTE)  # no restart, no wait
    assert res["ok"], res
    assert (await _connect("https://ui.example", peer=REMOTE))[0]["ok"]  # env still counts

    await sync_to_async(config_set)(ALLOWED_ORIGINS_PATH, ["*"])
    res, _ = await _connect("https://anything.example", host="gw.example.com", peer=REMOTE)
    assert res["ok"], res


@pytest.mark.asyncio
async def test_the_same_public_host_is_accepted_from_elsewhere_not_from_a_local_client(
    door: None,
) -> None:
    """A public name matching the Host header: the gateway's own page opened from another
    machine; from a local client it is what a DNS-rebinding page sends."""
    res, _ = await _connect("https://gw.example.com", host="gw.example.com", peer=REMOTE)
    assert res["ok"], res
    res, code = await _connect("https://gw.example.com", host="gw.example.com", peer=LOOPBACK)
    _assert_refused(res, code)
    await sync_to_async(config_set)(HOST_FALLBACK_PATH, True)
    res, _ = await _connect("https://gw.example.com", host="gw.example.com", peer=LOOPBACK)
    assert res["ok"], res


# --- everything else is refused -------------------------------------------------------------
@pytest.mark.asyncio
async def test_clawjacked_a_foreign_site_cannot_open_the_local_gateway(door: None) -> None:
    """A page on https://evil.example, in the user's browser on the gateway's machine."""
    for client_id, mode in (("openclaw-control-ui", "webchat"), ("cli", "cli")):
        res, code = await _connect(
            "https://evil.example", peer=LOOPBACK, client_id=client_id, mode=mode
        )
        _assert_refused(res, code)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("origin", "host", "peer", "reason"),
    [
        # DNS rebinding: evil.example resolves to 127.0.0.1, so origin and Host agree.
        ("http://evil.example:18789", "evil.example:18789", LOOPBACK, "origin not allowed"),
        # A loopback page, but the client is not on this machine.
        ("http://127.0.0.1:5173", HOST, REMOTE, "origin not allowed"),
        ("http://127.0.0.1:18789", HOST, REMOTE, "origin not allowed"),
        # Another page on the gateway's public address: not the same host and port.
        ("http://203.0.113.9:8080", "203.0.113.9:18789", REMOTE, "origin not allowed"),
        ("https://evil.example", "gw.example.com", REMOTE, "origin not allowed"),
        ("http://192.168.1.20:5173", "192.168.1.20:18789", LAN_PEER, "origin not allowed"),
        ("null", HOST, LOOPBACK, "origin missing or invalid"),
        ("http://127.0.0.1:5173/app", HOST, LOOPBACK, "origin missing or invalid"),
        ("http://user@127.0.0.1:5173", HOST, LOOPBACK, "origin missing or invalid"),
        ("http://[::1", HOST, LOOPBACK, "origin missing or invalid"),
    ],
)
async def test_other_origins_are_refused_with_openclaws_answer(
    door: None, origin: str, host: str, peer: tuple[str, int], reason: str
) -> None:
    res, code = await _connect(origin, host=host, peer=peer)
    _assert_refused(res, code, reason)


@pytest.mark.asyncio
async def test_a_loopback_page_through_a_proxy_is_not_a_local_client(
    settings: Any, door: None
) -> None:
    # X-Forwarded-For from a peer that is no trusted proxy: never local.
    forwarded = {"X-Forwarded-For": "127.0.0.1"}
    res, code = await _connect("http://127.0.0.1:5173", peer=LOOPBACK, headers=forwarded)
    _assert_refused(res, code)
    res, code = await _connect(f"http://{HOST}", peer=LOOPBACK, headers=forwarded)
    _assert_refused(res, code)
    # Through a trusted proxy, for a client elsewhere: not local either.
    settings.GATEWAY_TRUSTED_PROXIES = ["127.0.0.1"]
    proxies.forget()
    remote = {"X-Forwarded-For": "198.51.100.10"}
    res, code = await _connect("http://127.0.0.1:5173", peer=LOOPBACK, headers=remote)
    _assert_refused(res, code)
    # A trusted proxy naming a loopback client: gateway.proxies calls that one local.
    res, _ = await _connect("http://127.0.0.1:5173", peer=LOOPBACK, headers=forwarded)
    assert res["ok"], res


@pytest.mark.asyncio
async def test_no_origin_header_is_no_browser(door: None) -> None:
    """OpenClaw's CLI and backends send no Origin: the rules do not apply to them."""
    res, _ = await _connect(None, host="evil.example", peer=REMOTE, client_id="cli", mode="cli")
    assert res["ok"], res


def test_a_live_gateway_refuses_a_foreign_page_and_admits_a_dev_server(tmp_path: Path) -> None:
    """Over TCP with a real WebSocket client: the Control UI on another loopback port works
    with no allowed-origins setting; the ClawJacked page does not."""

    async def connect(port: int, origin: str) -> dict[str, Any]:
        client = OpenClawClient(f"ws://127.0.0.1:{port}/", origin=origin)
        await client.open()
        try:
            res: dict[str, Any] = await client.connect(
                token=TOKEN, client_id="openclaw-control-ui", mode="webchat"
            )
            return res
        finally:
            await client.close()

    async def run(port: int) -> None:
        ok = await connect(port, "http://127.0.0.1:5173")
        assert ok["ok"], ok
        refused = await connect(port, "https://evil.example")
        assert not refused["ok"]
        assert refused["error"]["message"] == REFUSAL
        assert refused["error"]["details"]["code"] == "CONTROL_UI_ORIGIN_NOT_ALLOWED"

    env = child_env(tmp_path / "data", OPENCLAW_GATEWAY_TOKEN=TOKEN)
    with GatewayProcess(env) as gw:
        asyncio.run(run(gw.port))


# --- the config path ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_allowed_origins_are_set_shown_and_reset_by_config_path(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.GATEWAY_ALLOWED_ORIGINS = ["https://env.example"]
    assert origins.policy().allowed == {"https://env.example"}  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        changed = config_set(ALLOWED_ORIGINS_PATH, "HTTPS://UI.Example:443, http://10.0.0.5:5173/")
    assert changed == [ALLOWED_ORIGINS_PATH]
    control_ui = config_document()["gateway"]["controlUi"]
    assert control_ui == {
        "allowedOrigins": ["https://env.example", "https://ui.example", "http://10.0.0.5:5173"],
        "dangerouslyAllowHostHeaderOriginFallback": False,
    }
    # The change cleared the cache: it applies to the next connect.
    assert origins.policy().allowed == {
        "https://env.example",
        "https://ui.example",
        "http://10.0.0.5:5173",
    }
    with django_capture_on_commit_callbacks(execute=True):
        changed = config_patch(
            {"gateway": {"controlUi": {"dangerouslyAllowHostHeaderOriginFallback": True}}}
        )
    assert changed == [HOST_FALLBACK_PATH]
    assert origins.policy().host_header_fallback is True
    assert config_document()["gateway"]["controlUi"]["dangerouslyAllowHostHeaderOriginFallback"]
    with django_capture_on_commit_callbacks(execute=True):
        changed = config_patch(
            {
                "gateway": {
                    "controlUi": {
                        "allowedOrigins": None,
                        "dangerouslyAllowHostHeaderOriginFallback": False,
                    }
                }
            }
        )
    assert changed == sorted([ALLOWED_ORIGINS_PATH, HOST_FALLBACK_PATH])
    assert not ConfigEntry.objects.exists()
    assert origins.policy() == OriginPolicy(allowed=frozenset({"https://env.example"}))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (ALLOWED_ORIGINS_PATH, ["ui.example"], "'ui.example' is not a browser origin"),
        (ALLOWED_ORIGINS_PATH, ["http://ui.example/app"], "scheme://host\\[:port\\] with no path"),
        (ALLOWED_ORIGINS_PATH, {"a": 1}, "takes a list of browser origins"),
        (ALLOWED_ORIGINS_PATH, [1], "takes a list of browser origins"),
        (HOST_FALLBACK_PATH, "yes", "takes true or false"),
        ("gateway.controlUi.basePath", "/ui", "cannot set gateway.controlUi.basePath here"),
        ("gateway.controlUi", ["x"], "gateway.controlUi must be an object"),
    ],
)
def test_bad_values_are_refused_and_nothing_changes(path: str, value: Any, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        config_set(path, value)
    head, _, last = path.rpartition(".")
    patch: Any = value
    for part in reversed([*head.split("."), last][1:]):
        patch = {part: patch}
    with pytest.raises(ConfigError, match=needle):
        config_patch({"gateway": patch})
    assert not ConfigEntry.objects.exists()


@pytest.mark.django_db
def test_a_bad_patch_stores_none_of_its_gateway_values() -> None:
    with pytest.raises(ConfigError, match="takes true or false"):
        config_patch(
            {
                "gateway": {
                    "trustedProxies": ["127.0.0.1"],
                    "controlUi": {
                        "allowedOrigins": ["http://10.0.0.5:5173"],
                        "dangerouslyAllowHostHeaderOriginFallback": "on",
                    },
                }
            }
        )
    assert not ConfigEntry.objects.exists()


# --- the pure rules ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("HTTP://Example.COM:80/", "http://example.com"),
        ("https://ui.example:443", "https://ui.example"),
        ("https://ui.example:8443", "https://ui.example:8443"),
        ("http://[0:0:0:0:0:0:0:1]:5173", "http://[::1]:5173"),
        ("tauri://localhost", "tauri://localhost"),
        ("null", None),
        ("", None),
        ("http://a b", None),
        ("http://host:99999", None),
        ("http://host:8o", None),
        ("http://h/x", None),
        ("file:///etc/passwd", None),
    ],
)
def test_parse_origin(raw: str, origin: str | None) -> None:
    parsed = origins.parse_origin(raw)
    assert (parsed.origin if parsed else None) == origin


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("10.1.2.3", True),
        ("172.31.0.1", True),
        ("172.32.0.1", False),
        ("192.168.0.1", True),
        ("169.254.1.1", True),
        ("100.64.0.1", True),  # CGNAT: Tailscale's addresses
        ("127.0.0.1", True),
        ("8.8.8.8", False),
        ("fd00::1", True),
        ("fe80::1", True),
        ("::ffff:192.168.1.1", True),
        ("::ffff:8.8.8.8", False),
        ("2001:4860::8888", False),
        ("not-an-ip", False),
    ],
)
def test_private_addresses(address: str, private: bool) -> None:
    assert origins.is_private_or_loopback_address(address) is private
