"""Security findings of the gateway door, each attacked for real (issue: security before
strangers arrive): trusted proxies and the auth rate limit, least disclosure of the health
summary, the credential strength rule, and gateway config paths."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from agents.models import Agent
from agents.services.config import ConfigError
from gateway import proxies, state
from gateway import scopes as gw_scopes
from gateway.catalog.config import config_document
from gateway.config_service import config_patch, config_set
from gateway.lib.tokens import secret_is_strong, token_generate
from gateway.models import ConfigEntry, GatewayToken
from gateway.ratelimit import auth_rate_limiter
from gateway.services import (
    gateway_token_create,
    gateway_token_sync_environment,
    weak_credentials,
)
from sessions_app.models import Session
from tests.openclaw_client import InProcessClient, release_worker_db_connections

TOKEN = "security-test-token-" + "0123456789abcdef" * 2
NGINX = ("127.0.0.1", 40000)  # the shipped nginx runs beside the gateway
ALICE, MALLORY = "198.51.100.10", "203.0.113.66"


@pytest.fixture(autouse=True)
def _clean(settings: Any) -> Iterator[None]:
    settings.GATEWAY_AUTH_MODE = "token"
    settings.GATEWAY_TRUSTED_PROXIES = []
    settings.AUTH_RATE_LIMIT_ATTEMPTS = 3
    auth_rate_limiter.reset()
    proxies.forget()
    state.health_reset()
    yield
    auth_rate_limiter.reset()
    proxies.forget()
    state.health_reset()


@pytest_asyncio.fixture
async def door(transactional_db: None) -> AsyncIterator[None]:
    await sync_to_async(gateway_token_create)(name="admin", token=TOKEN)
    yield
    await release_worker_db_connections()


async def _fail(peer: tuple[str, int], headers: dict[str, str] | None = None) -> None:
    async with InProcessClient(client=peer, headers=headers) as client:
        res = await client.connect(token="wrong-" + "x" * 40)
        assert not res["ok"]


async def _code(peer: tuple[str, int], headers: dict[str, str] | None = None) -> str:
    """Connect with the right token: "ok", or the error's details code."""
    async with InProcessClient(client=peer, headers=headers) as client:
        res = await client.connect(token=TOKEN)
        return "ok" if res["ok"] else str(res["error"]["details"]["code"])


# --- trusted proxies -----------------------------------------------------------------------
@pytest.mark.asyncio
async def test_behind_an_untrusted_proxy_one_attacker_locks_everyone_out(door: None) -> None:
    """Without trusted proxies every proxied client is the proxy: the finding as it was."""
    for _ in range(3):
        await _fail(NGINX, {"X-Forwarded-For": MALLORY})
    assert await _code(NGINX, {"X-Forwarded-For": ALICE}) == "AUTH_RATE_LIMITED"


@pytest.mark.asyncio
async def test_behind_a_trusted_proxy_the_rate_limit_keys_on_the_real_client(
    settings: Any, door: None
) -> None:
    settings.GATEWAY_TRUSTED_PROXIES = ["127.0.0.1"]
    for _ in range(3):
        await _fail(NGINX, {"X-Forwarded-For": MALLORY})
    assert await _code(NGINX, {"X-Forwarded-For": MALLORY}) == "AUTH_RATE_LIMITED"
    assert await _code(NGINX, {"X-Forwarded-For": ALICE}) == "ok"


@pytest.mark.asyncio
async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    settings: Any, door: None
) -> None:
    settings.GATEWAY_TRUSTED_PROXIES = ["127.0.0.1"]
    # Mallory, connecting directly, claims to be loopback (exempt) and then Alice.
    for _ in range(3):
        await _fail((MALLORY, 1), {"X-Forwarded-For": "127.0.0.1"})
    assert await _code((MALLORY, 2), {"X-Forwarded-For": ALICE}) == "AUTH_RATE_LIMITED"
    # Alice herself is untouched.
    assert await _code((ALICE, 3)) == "ok"


@pytest.mark.asyncio
async def test_a_client_forging_the_left_of_the_chain_is_still_itself(
    settings: Any, door: None
) -> None:
    settings.GATEWAY_TRUSTED_PROXIES = ["127.0.0.1"]
    # nginx appends what it saw; whatever Mallory wrote before it is not believed.
    for _ in range(3):
        await _fail(NGINX, {"X-Forwarded-For": f"127.0.0.1, {ALICE}, {MALLORY}"})
    assert await _code(NGINX, {"X-Forwarded-For": ALICE}) == "ok"
    assert await _code(NGINX, {"X-Forwarded-For": MALLORY}) == "AUTH_RATE_LIMITED"


def test_resolve_client_rules() -> None:
    nets = proxies.parse_networks(["127.0.0.1", "10.0.0.0/8"])
    direct = proxies.resolve_client("127.0.0.1", {}, nets)
    assert (direct.ip, direct.is_local, direct.via_proxy) == ("127.0.0.1", True, False)
    untrusted = proxies.resolve_client(MALLORY, {"x-forwarded-for": "127.0.0.1"}, nets)
    assert (untrusted.ip, untrusted.is_local) == (MALLORY, False)
    loop_untrusted = proxies.resolve_client("127.0.0.1", {"x-forwarded-for": ALICE}, ())
    assert (loop_untrusted.ip, loop_untrusted.is_local) == ("127.0.0.1", False)
    chain = proxies.resolve_client("10.1.1.1", {"x-forwarded-for": f"{ALICE}, 10.2.2.2"}, nets)
    assert (chain.ip, chain.is_local, chain.via_proxy) == (ALICE, False, True)
    local = proxies.resolve_client("127.0.0.1", {"x-forwarded-for": "127.0.0.1"}, nets)
    assert (local.ip, local.is_local) == ("127.0.0.1", True)
    garbage = proxies.resolve_client("127.0.0.1", {"x-forwarded-for": "not-an-ip"}, nets)
    assert (garbage.ip, garbage.is_local) == ("127.0.0.1", True)
    v6 = proxies.resolve_client(
        "::1", {"x-forwarded-for": "[2001:db8::1]:443"}, proxies.parse_networks(["::1"])
    )
    assert v6.ip == "2001:db8::1"


@pytest.mark.django_db
def test_trusted_proxies_are_set_by_config_path(settings: Any) -> None:
    settings.GATEWAY_TRUSTED_PROXIES = ["192.0.2.1"]
    config_set("gateway.trustedProxies", ["127.0.0.1", "10.0.0.0/24"])
    assert config_document()["gateway"]["trustedProxies"] == [
        "192.0.2.1",
        "127.0.0.1",
        "10.0.0.0/24",
    ]
    assert [str(n) for n in proxies.trusted_networks()] == [
        "192.0.2.1/32",
        "127.0.0.1/32",
        "10.0.0.0/24",
    ]
    assert config_patch({"gateway": {"trustedProxies": None}}) == ["gateway.trustedProxies"]
    assert not ConfigEntry.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (["not-an-ip"], "'not-an-ip' is not an IP address"),
        ({"a": 1}, "takes a list of addresses"),
        ([1, 2], "takes a list of addresses"),
    ],
)
def test_bad_trusted_proxies_are_refused_and_nothing_changes(value: Any, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        config_set("gateway.trustedProxies", value)
    with pytest.raises(ConfigError, match=needle):
        config_patch({"gateway": {"trustedProxies": value}})
    assert not ConfigEntry.objects.exists()


@pytest.mark.django_db
def test_other_gateway_paths_are_refused_with_what_can_be_set() -> None:
    with pytest.raises(ConfigError, match=r"gateway\.mode.*only gateway\.trustedProxies"):
        config_patch({"gateway": {"mode": "remote"}, "agents": {"defaults": {"model": "a/b"}}})
    with pytest.raises(ConfigError, match=r"Also settable: gateway\.trustedProxies"):
        config_set("gateway.tailscale.mode", "serve")


# --- least disclosure of the health summary -----------------------------------------------
@pytest.mark.asyncio
async def test_health_carries_session_keys_only_for_operator_read(door: None) -> None:
    await sync_to_async(Session.objects.create)(
        key="agent:main:telegram:direct:4242", agent_slug="main"
    )
    await state.health_get(force=True)

    async with InProcessClient() as scopeless:
        res = await scopeless.connect(token=TOKEN, scopes=[])
        assert res["ok"], res
        snapshot = res["payload"]["snapshot"]["health"]
        event = await scopeless.wait_event("health")
    async with InProcessClient() as reader:
        res = await reader.connect(token=TOKEN, scopes=[gw_scopes.READ])
        full = res["payload"]["snapshot"]["health"]

    assert "telegram:direct:4242" in str(full)
    for shown in (snapshot, event["payload"]):
        assert "4242" not in str(shown), shown
        assert shown["sessions"]["count"] == full["sessions"]["count"] == 1
        assert shown["sessions"]["recent"] == []


# --- credentials ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("secret", "strong"),
    [
        (token_generate(), True),
        ("correct horse battery staple", True),
        ("a" * 40, False),
        ("abcdefghij" * 3, False),  # ten different characters, repeated
        ("short-but-random", False),
        ("0123456789abcdef01234567", True),
    ],
)
def test_strength_rule(secret: str, strong: bool) -> None:
    assert secret_is_strong(secret) is strong


@pytest.mark.django_db
def test_a_changed_environment_token_revokes_the_old_one() -> None:
    old, new = "old-env-token-" + "a1b2c3d4e5" * 3, "new-env-token-" + "f6g7h8i9j0" * 3
    first = gateway_token_sync_environment(old)
    assert first is not None
    second = gateway_token_sync_environment(new)
    assert second is not None
    rows = {t.pk: t for t in GatewayToken.objects.all()}
    assert rows[first.record.pk].revoked_at is not None
    assert rows[second.record.pk].revoked_at is None
    assert gateway_token_sync_environment("") is None
    assert not GatewayToken.objects.active().exists()


@pytest.mark.django_db
def test_weak_credentials_names_each_one_and_how_to_rotate(settings: Any) -> None:
    settings.GATEWAY_PASSWORD = "a"
    weak_env = gateway_token_sync_environment("weakweak")
    assert weak_env is not None
    legacy = gateway_token_create(name="legacy")
    GatewayToken.objects.filter(pk=legacy.record.pk).update(strong=None)
    gateway_token_create(name="fine")

    problems = weak_credentials()

    assert len(problems) == 3, problems
    assert "OPENCLAW_GATEWAY_PASSWORD is weak" in problems[0]
    assert f"gateway token {weak_env.record.pk} (environment" in problems[1]
    assert "set OPENCLAW_GATEWAY_TOKEN" in problems[1]
    assert "of unknown strength" in problems[2]
    assert f"gateway_token revoke {legacy.record.pk}" in problems[2]


@pytest.mark.django_db
def test_the_sandbox_settings_set_by_path_show_in_the_config_document() -> None:
    Agent.objects.create(slug="main", is_default=True)
    config_set("agents.list[0].sandbox.workspaceAccess", "rw")
    config_set("agents.list[0].tools.sandbox.tools.allow", ["message"])

    entry = config_document()["agents"]["list"][0]

    assert entry["sandbox"] == {"mode": "non-main", "workspaceAccess": "rw"}
    assert entry["tools"]["sandbox"] == {"tools": {"allow": ["message"], "deny": []}}
