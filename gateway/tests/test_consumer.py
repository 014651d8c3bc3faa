"""Protocol edge cases of the gateway consumer, in process (``WebsocketCommunicator``).

Handshake (challenge, timeout, bad first frames, protocol range, credentials, devices,
origin, rate limits), then the request loop (unknown methods, params, scopes, flooding,
cancel, events and their seq, ticks). OpenClaw's behaviour: openclaw-protocol.md §1.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.apps import apps

from gateway import scopes as gw_scopes
from gateway import state
from gateway.methods import REGISTRY
from gateway.methods.registry import CallContext, Method, NoParams
from gateway.ratelimit import auth_rate_limiter
from gateway.services import gateway_token_create
from pairing.models import Device
from tests.openclaw_client import (
    DeviceKey,
    GatewayClosedError,
    InProcessClient,
    release_worker_db_connections,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

TOKEN = "consumer-test-token-" + "0123456789abcdef" * 2
READ_TOKEN = "consumer-read-token-" + "fedcba9876543210" * 2
LOOPBACK = ("127.0.0.1", 50123)
REMOTE = ("203.0.113.7", 40001)
HOST = "127.0.0.1:18789"
ADMIN, READ, WRITE = gw_scopes.ADMIN, gw_scopes.READ, gw_scopes.WRITE
APPROVALS, PAIRING = gw_scopes.APPROVALS, gw_scopes.PAIRING
AUTH_WORDS = ("token", "password", "device", "secret", "signature")


@pytest.fixture(autouse=True)
def _clean_gateway_state(settings: Any) -> Iterator[None]:
    settings.GATEWAY_AUTH_MODE = "token"
    settings.GATEWAY_ALLOWED_ORIGINS = []
    settings.AUTH_RATE_LIMIT_EXEMPT_LOOPBACK = True
    auth_rate_limiter.reset()
    state.presence.clear()
    yield
    auth_rate_limiter.reset()
    state.presence.clear()


@pytest_asyncio.fixture(autouse=True)
async def _release_worker_db(transactional_db: None) -> AsyncIterator[None]:
    yield
    await release_worker_db_connections()


@pytest.fixture
def tokens(transactional_db: None) -> dict[str, str]:
    """An admin token and a read-only token, committed before the test's event loop runs."""
    gateway_token_create(name="admin", token=TOKEN, scopes=[ADMIN])
    gateway_token_create(name="reader", token=READ_TOKEN, scopes=[READ])
    return {"admin": TOKEN, "read": READ_TOKEN}


@pytest.fixture
def fake_methods(monkeypatch: pytest.MonkeyPatch) -> dict[str, asyncio.Event]:
    """Test-only methods: ``test.sleep`` (read, never answers by itself) and ``test.write``."""
    started = asyncio.Event()

    async def sleep(ctx: CallContext, params: NoParams) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(60)
        return {}

    async def write(ctx: CallContext, params: NoParams) -> dict[str, Any]:
        return {"written": True}

    for name, handler, scope in (("test.sleep", sleep, READ), ("test.write", write, WRITE)):
        monkeypatch.setitem(
            REGISTRY,
            name,
            Method(
                name=name,
                handler=handler,
                scope=scope,
                params=NoParams,
                is_async=True,
                advertised=False,
            ),
        )
    return {"started": started}


async def _connected(
    *,
    token: str | None = TOKEN,
    scopes: list[str] | None = None,
    peer: tuple[str, int] | None = LOOPBACK,
    **kwargs: Any,
) -> InProcessClient:
    client = InProcessClient(client=peer)
    await client.open()
    res = await client.connect(
        token=token, scopes=scopes if scopes is not None else [READ], **kwargs
    )
    assert res["ok"], res
    return client


def _error(frame: dict[str, Any]) -> dict[str, Any]:
    assert frame["type"] == "res", frame
    assert frame["ok"] is False, frame
    error: dict[str, Any] = frame["error"]
    return error


async def _expect_rejected(
    client: InProcessClient, res: dict[str, Any], code: str, close_code: int = 1008
) -> dict[str, Any]:
    error = _error(res)
    assert error["code"] == code, error
    closed, _ = await client.wait_closed()
    assert closed == close_code, (closed, error)
    return error


def _db_snapshot() -> dict[str, list[dict[str, Any]]]:
    return {
        model._meta.label: [dict(row) for row in model._default_manager.order_by("pk").values()]
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


# --- the challenge and the handshake --------------------------------------------------------
async def test_the_server_speaks_first_with_a_challenge() -> None:
    async with InProcessClient() as client:
        frame = client.frames[0]
        assert frame["type"] == "event"
        assert frame["event"] == "connect.challenge"
        assert "seq" not in frame
        nonce, ts = frame["payload"]["nonce"], frame["payload"]["ts"]
        assert str(uuid.UUID(nonce)) == nonce
        assert isinstance(ts, int)
        assert abs(ts - time.time() * 1000) < 5_000
    async with InProcessClient() as other:
        assert other.challenge is not None
        assert other.challenge["nonce"] != nonce


async def test_no_connect_within_the_handshake_timeout_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway import consumers
    from gateway.lib import protocol

    assert protocol.HANDSHAKE_TIMEOUT_S == 10.0  # OpenClaw DEFAULT_HANDSHAKE_TIMEOUT_MS
    monkeypatch.setattr(protocol, "HANDSHAKE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(consumers, "HANDSHAKE_TIMEOUT_S", 0.2)
    async with InProcessClient() as client:
        started = time.monotonic()
        code, _ = await client.wait_closed(wait_s=3)
        assert code == 1000
        assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("first", "answer_id"),
    [
        pytest.param("{not json", "invalid", id="not-json"),
        pytest.param("[1, 2]", "invalid", id="json-array"),
        pytest.param(b"\x00\x01binary", "invalid", id="binary"),
        pytest.param({"type": "req", "id": "r1", "method": "health"}, "r1", id="req-not-connect"),
        pytest.param({"type": "req", "id": "r1", "method": "chat.send"}, "r1", id="write-first"),
        pytest.param({"type": "req", "id": "r1"}, "r1", id="req-without-method"),
        pytest.param({"type": "event", "event": "x", "payload": {}}, "invalid", id="event-frame"),
        pytest.param({"type": "cancel", "id": "c1"}, "c1", id="cancel-first"),
        pytest.param({"id": "r1", "method": "connect"}, "r1", id="no-type"),
    ],
)
async def test_a_bad_first_frame_is_refused_with_1008(first: Any, answer_id: str) -> None:
    async with InProcessClient() as client:
        await client.send_raw(first if isinstance(first, (str, bytes)) else json.dumps(first))
        res = await client.recv()
        error = await _expect_rejected(client, res, "INVALID_REQUEST")
        assert res["id"] == answer_id
        assert error["message"].startswith(("invalid handshake", "invalid request frame")), error


async def test_invalid_connect_params_are_refused_with_1008() -> None:
    async with InProcessClient() as client:
        params = client.connect_params(token=TOKEN)
        params["minProtocol"] = "four"
        res = await client.handshake(params, request_id="c1")
        error = await _expect_rejected(client, res, "INVALID_REQUEST")
        assert error["message"].startswith("invalid connect params"), error
        assert res["id"] == "c1"


async def test_an_unknown_client_id_is_refused() -> None:
    async with InProcessClient() as client:
        res = await client.handshake(client.connect_params(token=TOKEN, client_id="not-a-client"))
        error = await _expect_rejected(client, res, "INVALID_REQUEST")
        assert error["message"].startswith("invalid connect params"), error


async def test_a_second_connect_is_an_error_and_the_socket_stays(tokens: dict[str, str]) -> None:
    client = await _connected()
    try:
        res = await client.connect(token=TOKEN, scopes=[READ])
        assert _error(res)["code"] == "INVALID_REQUEST"
        health = await client.call("health")
        assert health["ok"], health
        assert not client.closed
    finally:
        await client.close()


# --- protocol range ---------------------------------------------------------------------------
@pytest.mark.parametrize(("low", "high"), [(5, 6), (1, 3), (3, 3)])
async def test_an_operator_outside_protocol_4_is_refused_with_1002(
    tokens: dict[str, str], low: int, high: int
) -> None:
    async with InProcessClient() as client:
        res = await client.connect(token=TOKEN, min_protocol=low, max_protocol=high)
        error = await _expect_rejected(client, res, "INVALID_REQUEST", close_code=1002)
        assert error["message"] == "protocol mismatch"
        assert error["details"]["expectedProtocol"] == 4


async def test_a_probe_offering_3_to_4_is_accepted(tokens: dict[str, str]) -> None:
    """``openclaw status`` probes with minProtocol 3, mode probe (captured)."""
    async with InProcessClient() as client:
        res = await client.connect(token=TOKEN, mode="probe", min_protocol=3, max_protocol=4)
        assert res["ok"], res
        assert res["payload"]["protocol"] == 4


# --- credentials ------------------------------------------------------------------------------
BAD_CREDENTIALS: dict[str, dict[str, Any]] = {
    "wrong-token": {"token": "wrong-" + "x" * 40},
    "no-credentials": {"token": None},
    "password-instead": {"token": None, "password": "not-the-token"},
    "device-token-without-device": {"token": None, "device_token": "not-a-device-token"},
    "wrong-token-with-device": {"token": "wrong-" + "x" * 40, "device": True},
    "device-token-of-unknown-device": {"token": None, "device_token": "x" * 43, "device": True},
}


async def _bad_credentials_error(case: str) -> dict[str, Any]:
    kwargs = dict(BAD_CREDENTIALS[case])
    if kwargs.pop("device", False):
        kwargs["device"] = DeviceKey()
    async with InProcessClient() as client:
        res = await client.connect(scopes=[READ], **kwargs)
        return await _expect_rejected(client, res, "INVALID_REQUEST")


@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
async def test_bad_credentials_are_refused_with_1008(tokens: dict[str, str], case: str) -> None:
    error = await _bad_credentials_error(case)
    assert error["details"]["code"] == "AUTH_UNAUTHORIZED", error
    assert not any(word in error["message"].lower() for word in AUTH_WORDS), error


async def test_bad_credentials_all_get_the_same_answer(tokens: dict[str, str]) -> None:
    """The answer never tells which of token, password or device token was wrong."""
    answers = {json.dumps(await _bad_credentials_error(case)) for case in BAD_CREDENTIALS}
    assert len(answers) == 1, answers


async def test_password_mode_refuses_a_wrong_password_the_same_way(
    settings: Any, tokens: dict[str, str]
) -> None:
    settings.GATEWAY_AUTH_MODE = "password"
    settings.GATEWAY_PASSWORD = "the-right-password-123"
    async with InProcessClient() as client:
        res = await client.connect(token=None, password="the-wrong-password")
        error = await _expect_rejected(client, res, "INVALID_REQUEST")
        assert error["details"]["code"] == "AUTH_UNAUTHORIZED"
        assert not any(word in error["message"].lower() for word in AUTH_WORDS)
    async with InProcessClient() as client:
        res = await client.connect(token=None, password="the-right-password-123", scopes=[READ])
        assert res["ok"], res


@pytest.mark.parametrize(
    ("token_scopes", "asked", "granted"),
    [
        ([READ, WRITE], [ADMIN, READ, PAIRING], [READ]),
        ([READ, WRITE], [WRITE], [WRITE]),
        ([READ, WRITE], [], []),
        ([WRITE], [READ], [READ]),  # write implies read
        ([ADMIN], [READ, APPROVALS], [APPROVALS, READ]),
        ([ADMIN], [ADMIN, "operator.unknown"], [ADMIN]),
        ([PAIRING], [PAIRING, APPROVALS], [PAIRING]),
    ],
)
async def test_a_token_client_gets_exactly_the_scopes_it_asked_for_within_the_token(
    token_scopes: list[str], asked: list[str], granted: list[str]
) -> None:
    token = "scoped-token-" + uuid.uuid4().hex + uuid.uuid4().hex
    await sync_to_async(gateway_token_create)(token=token, scopes=token_scopes)
    async with InProcessClient() as client:
        res = await client.connect(token=token, scopes=asked)
        assert res["ok"], res
        assert sorted(res["payload"]["auth"]["scopes"]) == sorted(granted)
        assert res["payload"]["auth"]["role"] == "operator"
        assert "deviceToken" not in res["payload"]["auth"]


# --- device identity --------------------------------------------------------------------------
def _device_case(case: str, client: InProcessClient, device: DeviceKey) -> dict[str, Any]:
    """Connect params with a device block broken as ``case`` says."""
    assert client.challenge is not None
    params = client.connect_params(token=TOKEN, scopes=[READ], device=device)
    block = params["device"]
    nonce = client.challenge["nonce"]
    common: dict[str, Any] = {
        "client_id": "cli",
        "client_mode": "cli",
        "role": "operator",
        "scopes": [READ],
        "token": TOKEN,
        "platform": "linux",
        "device_family": "Linux",
    }
    if case == "bad-signature":
        block["signature"] = DeviceKey().device_block(nonce=nonce, **common)["signature"]
    elif case == "signature-not-base64":
        block["signature"] = "!!!not base64!!!"
    elif case == "wrong-nonce":
        block.update(device.device_block(nonce=str(uuid.uuid4()), **common))
    elif case == "stale":
        old = int(time.time() * 1000) - 3 * 60_000
        block.update(device.device_block(nonce=nonce, signed_at_ms=old, **common))
    elif case == "future":
        ahead = int(time.time() * 1000) + 3 * 60_000
        block.update(device.device_block(nonce=nonce, signed_at_ms=ahead, **common))
    elif case == "id-not-sha256-of-key":
        block.update(device.device_block(nonce=nonce, device_id="ab" * 32, **common))
    elif case == "public-key-not-32-bytes":
        block["publicKey"] = device.public_key[:20]
    elif case == "signed-other-scopes":
        block.update(device.device_block(nonce=nonce, **{**common, "scopes": [ADMIN]}))
    elif case == "signed-other-platform":
        block.update(device.device_block(nonce=nonce, **{**common, "platform": "darwin"}))
    return params


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("bad-signature", "DEVICE_AUTH_SIGNATURE_INVALID"),
        ("signature-not-base64", "DEVICE_AUTH_SIGNATURE_INVALID"),
        ("wrong-nonce", "DEVICE_AUTH_NONCE_MISMATCH"),
        ("stale", "DEVICE_AUTH_SIGNATURE_EXPIRED"),
        ("future", "DEVICE_AUTH_SIGNATURE_EXPIRED"),
        ("id-not-sha256-of-key", "DEVICE_AUTH_DEVICE_ID_MISMATCH"),
        ("public-key-not-32-bytes", "DEVICE_AUTH_PUBLIC_KEY_INVALID"),
        ("signed-other-scopes", "DEVICE_AUTH_SIGNATURE_INVALID"),
        ("signed-other-platform", "DEVICE_AUTH_SIGNATURE_INVALID"),
    ],
)
async def test_a_bad_device_identity_is_refused(
    tokens: dict[str, str], case: str, detail: str
) -> None:
    async with InProcessClient() as client:
        res = await client.handshake(_device_case(case, client, DeviceKey()))
        error = await _expect_rejected(client, res, "INVALID_REQUEST")
        assert error["details"]["code"] == detail, error
        assert error["details"].get("reason"), error
    assert await sync_to_async(Device.objects.count)() == 0


async def test_a_replayed_nonce_from_another_connection_is_refused(tokens: dict[str, str]) -> None:
    device = DeviceKey()
    async with InProcessClient() as first:
        assert first.challenge is not None
        old_nonce = first.challenge["nonce"]
        async with InProcessClient() as second:
            params = second.connect_params(token=TOKEN, scopes=[READ])
            params["device"] = device.device_block(
                nonce=old_nonce,
                client_id="cli",
                client_mode="cli",
                role="operator",
                scopes=[READ],
                token=TOKEN,
                platform="linux",
                device_family="Linux",
            )
            res = await second.handshake(params)
            error = await _expect_rejected(second, res, "INVALID_REQUEST")
            assert error["details"]["code"] == "DEVICE_AUTH_NONCE_MISMATCH"


async def test_a_local_device_is_paired_silently_and_its_device_token_works_alone(
    tokens: dict[str, str],
) -> None:
    device = DeviceKey()
    scopes = [ADMIN, READ, WRITE, APPROVALS]
    async with InProcessClient() as client:
        res = await client.connect(
            token=TOKEN, scopes=scopes, device=device, client_id="openclaw-tui", mode="ui"
        )
        assert res["ok"], res
        auth = res["payload"]["auth"]
        device_token = auth["deviceToken"]
        assert isinstance(device_token, str)
        assert len(device_token) >= 32
        assert sorted(auth["scopes"]) == sorted(scopes)
    row = await sync_to_async(Device.objects.get)(device_id=device.device_id)
    assert row.status == Device.Status.PAIRED
    assert row.public_key == device.public_key
    assert device_token not in row.token_hash

    async with InProcessClient() as again:  # no gateway token: only the device token
        res = await again.connect(
            token=None,
            device_token=device_token,
            scopes=scopes,
            device=device,
            client_id="openclaw-tui",
            mode="ui",
        )
        assert res["ok"], res
        assert sorted(res["payload"]["auth"]["scopes"]) == sorted(scopes)
        assert (await again.call("health"))["ok"]


async def test_a_device_token_never_works_for_another_device(tokens: dict[str, str]) -> None:
    device = DeviceKey()
    async with InProcessClient() as client:
        res = await client.connect(token=TOKEN, scopes=[READ], device=device)
        device_token = res["payload"]["auth"]["deviceToken"]
    async with InProcessClient() as thief:
        res = await thief.connect(token=None, device_token=device_token, device=DeviceKey())
        error = await _expect_rejected(thief, res, "INVALID_REQUEST")
        assert error["details"]["code"] == "AUTH_UNAUTHORIZED"


async def test_a_remote_device_needs_pairing_and_waits_as_a_pending_device(
    tokens: dict[str, str],
) -> None:
    device = DeviceKey()
    async with InProcessClient(client=REMOTE) as client:
        res = await client.connect(token=TOKEN, scopes=[READ], device=device)
        error = await _expect_rejected(client, res, "NOT_PAIRED")
        assert error["details"]["code"] == "PAIRING_REQUIRED"
        assert error["details"]["reason"] == "not-paired"
        request_id = error["details"]["requestId"]
        assert str(uuid.UUID(request_id)) == request_id
    rows = await sync_to_async(lambda: list(Device.objects.all()))()
    assert len(rows) == 1, "the pending Device row was not kept"
    assert rows[0].device_id == device.device_id
    assert rows[0].status == Device.Status.PENDING
    assert str(rows[0].request_id) == request_id
    assert rows[0].remote_ip == REMOTE[0]


async def test_a_node_without_a_device_identity_is_refused(tokens: dict[str, str]) -> None:
    async with InProcessClient() as client:
        res = await client.connect(token=TOKEN, role="node", mode="node", client_id="node-host")
        error = await _expect_rejected(client, res, "NOT_PAIRED")
        assert error["details"]["code"] == "DEVICE_IDENTITY_REQUIRED"


async def test_an_unknown_role_is_refused(tokens: dict[str, str]) -> None:
    async with InProcessClient() as client:
        res = await client.connect(token=TOKEN, role="superuser")
        await _expect_rejected(client, res, "INVALID_REQUEST")


@pytest.mark.parametrize(
    ("where", "with_device"),
    [
        (("client", "platform"), True),  # signed
        (("client", "displayName"), True),  # stored on the Device row
        (("client", "displayName"), False),  # in the presence entry every operator gets
        (("auth", "token"), False),  # hashed before anything is checked
        (("scopes", 0), True),  # signed
    ],
    ids=["platform-device", "displayName-device", "displayName", "token", "scope-device"],
)
async def test_lone_surrogates_in_connect_params_are_refused_or_harmless(
    tokens: dict[str, str], where: tuple[str, str | int], with_device: bool
) -> None:
    r"""JSON ``"\ud800"`` decodes to a lone surrogate, which cannot be UTF-8 encoded: the
    connect must be refused (INVALID_REQUEST, 1008) or work, never crash the consumer."""
    async with InProcessClient() as client:
        device = DeviceKey() if with_device else None
        params = client.connect_params(token=TOKEN, scopes=[READ], device=device, mode="ui")
        params[where[0]][where[1]] = "\ud800"
        res = await client.handshake(params)
        if res["ok"]:
            assert (await client.call("health"))["ok"]
        else:
            await _expect_rejected(client, res, "INVALID_REQUEST")


# --- origin ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "origin", ["http://evil.example", "https://203.0.113.7:9999", "null", "http://[::1"]
)
async def test_a_browser_origin_from_another_host_is_refused(
    tokens: dict[str, str], origin: str
) -> None:
    async with InProcessClient(headers={"Host": HOST, "Origin": origin}) as client:
        res = await client.connect(token=TOKEN, client_id="openclaw-control-ui", mode="webchat")
        error = await _expect_rejected(client, res, "INVALID_REQUEST")
        assert error["message"].startswith("origin not allowed"), error


async def test_a_browser_origin_from_the_same_host_or_allowed_is_accepted(
    settings: Any, tokens: dict[str, str]
) -> None:
    async with InProcessClient(headers={"Host": HOST, "Origin": f"http://{HOST}"}) as client:
        res = await client.connect(token=TOKEN, client_id="openclaw-control-ui", mode="webchat")
        assert res["ok"], res
    settings.GATEWAY_ALLOWED_ORIGINS = ["https://ui.example"]
    async with InProcessClient(headers={"Host": HOST, "Origin": "https://ui.example"}) as client:
        res = await client.connect(token=TOKEN, client_id="openclaw-control-ui", mode="webchat")
        assert res["ok"], res


# --- failed-auth rate limit ---------------------------------------------------------------------
async def test_repeated_failures_from_one_remote_address_are_rate_limited(
    settings: Any, tokens: dict[str, str]
) -> None:
    settings.AUTH_RATE_LIMIT_ATTEMPTS = 3
    for _ in range(3):
        async with InProcessClient(client=REMOTE) as client:
            res = await client.connect(token="wrong-" + "y" * 40)
            error = await _expect_rejected(client, res, "INVALID_REQUEST")
            assert error["details"]["code"] == "AUTH_UNAUTHORIZED"
    async with InProcessClient(client=REMOTE) as client:  # even with the right token now
        res = await client.connect(token=TOKEN)
        error = _error(res)
        assert error["details"]["code"] == "AUTH_RATE_LIMITED", error
        assert isinstance(error.get("retryAfterMs"), int)
        assert error["retryAfterMs"] > 0
        closed, _ = await client.wait_closed()
        assert closed == 1008
    async with InProcessClient(client=("198.51.100.1", 1)) as other:  # another address is fine
        assert (await other.connect(token=TOKEN))["ok"]


async def test_loopback_failures_are_exempt_from_the_rate_limit(
    settings: Any, tokens: dict[str, str]
) -> None:
    settings.AUTH_RATE_LIMIT_ATTEMPTS = 2
    for _ in range(4):
        async with InProcessClient() as client:
            res = await client.connect(token="wrong-" + "z" * 40)
            assert _error(res)["details"]["code"] == "AUTH_UNAUTHORIZED"
    async with InProcessClient() as client:
        assert (await client.connect(token=TOKEN))["ok"]


async def test_rejected_connects_write_nothing_but_the_pending_device(
    tokens: dict[str, str],
) -> None:
    warm = await _connected()  # the token's last_used_at is fresh: no write is due
    await warm.close()
    before = await sync_to_async(_db_snapshot)()

    async def rejected(peer: tuple[str, int], headers: dict[str, str] | None, **kw: Any) -> None:
        async with InProcessClient(client=peer, headers=headers) as client:
            res = await client.connect(**kw)
            assert not res["ok"], res

    await rejected(LOOPBACK, None, token="wrong-" + "w" * 40)
    await rejected(LOOPBACK, None, token=TOKEN, min_protocol=5, max_protocol=5)
    await rejected(LOOPBACK, {"Host": HOST, "Origin": "http://evil.example"}, token=TOKEN)
    async with InProcessClient() as client:
        res = await client.handshake(_device_case("bad-signature", client, DeviceKey()))
        assert not res["ok"]
    device = DeviceKey()
    await rejected(REMOTE, None, token=TOKEN, device=device)

    after = await sync_to_async(_db_snapshot)()
    changed = {label for label in before if before[label] != after[label]}
    assert changed == {Device._meta.label}, changed
    devices = after[Device._meta.label]
    assert [(d["device_id"], d["status"]) for d in devices] == [(device.device_id, "pending")]


# --- requests after the handshake -------------------------------------------------------------
async def test_an_unknown_method_is_an_error_and_the_socket_stays(tokens: dict[str, str]) -> None:
    client = await _connected()
    try:
        error = _error(await client.call("x"))
        assert error == {"code": "INVALID_REQUEST", "message": "unknown method: x"}
        assert (await client.call("health"))["ok"]
    finally:
        await client.close()


@pytest.mark.parametrize("params", [{"probe": [1]}, {"probe": {"a": 1}}, "not-an-object", [1, 2]])
async def test_wrong_param_types_are_named_and_the_socket_stays(
    tokens: dict[str, str], params: Any
) -> None:
    client = await _connected()
    try:
        error = _error(await client.call("health", params))
        assert error["code"] == "INVALID_REQUEST"
        assert error["message"].startswith("invalid health params: "), error
        assert (await client.call("health"))["ok"]
    finally:
        await client.close()


async def test_frames_after_the_handshake_that_are_not_requests(tokens: dict[str, str]) -> None:
    client = await _connected()
    try:
        await client.send_raw("{oops")
        assert _error(await client.response("invalid"))["code"] == "INVALID_REQUEST"
        await client.send_raw(b"\x00binary")
        assert _error(await client.response("invalid"))["code"] == "INVALID_REQUEST"
        await client.send_frame({"type": "req", "id": "m1"})  # no method
        assert _error(await client.response("m1"))["code"] == "INVALID_REQUEST"
        assert (await client.call("health"))["ok"]
        assert not client.closed
    finally:
        await client.close()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "ping", "id": "p1"},
        {"type": "event", "event": "presence", "payload": {}},
        {"type": "res", "id": "x", "ok": True, "payload": {}},
        {"type": "future-thing"},
    ],
)
async def test_unknown_frame_types_are_ignored(tokens: dict[str, str], frame: Any) -> None:
    client = await _connected()
    try:
        seen = len(client.frames)
        await client.send_frame(frame)
        res = await client.call("health")
        assert res["ok"]
        answers = [f for f in client.frames[seen:] if f.get("type") == "res"]
        assert answers == [res], answers
    finally:
        await client.close()


async def test_a_cancel_frame_cancels_a_pending_request(
    tokens: dict[str, str], fake_methods: dict[str, asyncio.Event]
) -> None:
    client = await _connected()
    try:
        rid = await client.send_request("test.sleep")
        await asyncio.wait_for(fake_methods["started"].wait(), 2)
        started = time.monotonic()
        await client.send_frame({"type": "cancel", "id": rid})
        error = _error(await client.response(rid, wait_s=3))
        assert time.monotonic() - started < 2
        assert error["code"] == "UNAVAILABLE"
        assert "cancel" in error["message"]
        await client.send_frame({"type": "cancel", "id": "never-sent"})  # harmless
        assert (await client.call("health"))["ok"]
    finally:
        await client.close()


async def test_a_flood_of_requests_is_rate_limited_and_the_socket_keeps_serving(
    monkeypatch: pytest.MonkeyPatch, tokens: dict[str, str]
) -> None:
    from gateway import consumers

    monkeypatch.setattr(consumers, "REQUESTS_PER_SECOND", 2.0)
    monkeypatch.setattr(consumers, "REQUEST_BURST", 5.0)
    client = await _connected()
    try:
        ids = [await client.send_request("health") for _ in range(15)]
        answers = [await client.response(rid) for rid in ids]
        limited = [a["error"] for a in answers if not a["ok"]]
        assert 5 <= len(answers) - len(limited) <= 7, answers
        assert len(limited) >= 8
        for error in limited:
            assert error["code"] == "UNAVAILABLE"
            assert error["message"].startswith("rate limited"), error
            assert error["retryable"] is True
            assert error["retryAfterMs"] >= 1
        await asyncio.sleep(0.6)  # a token again (2 per second)
        assert (await client.call("health"))["ok"]
        assert not client.closed
    finally:
        await client.close()


async def test_a_missing_scope_is_named_and_the_socket_stays(
    tokens: dict[str, str], fake_methods: dict[str, asyncio.Event]
) -> None:
    client = await _connected(scopes=[READ])
    try:
        error = _error(await client.call("test.write"))
        assert error == {
            "code": "FORBIDDEN",
            "message": "missing scope: operator.write",
            "details": {
                "code": "MISSING_SCOPE",
                "missingScope": "operator.write",
                "requiredScopes": ["operator.write"],
            },
        }
        assert (await client.call("health"))["ok"]
    finally:
        await client.close()
    writer = await _connected(scopes=[WRITE])
    try:
        assert (await writer.call("test.write"))["payload"] == {"written": True}
        assert (await writer.call("health"))["ok"]  # write implies read
    finally:
        await writer.close()


async def test_twenty_unauthorized_calls_close_the_socket(
    tokens: dict[str, str], fake_methods: dict[str, asyncio.Event]
) -> None:
    client = await _connected(scopes=[READ])
    try:
        for _ in range(19):
            assert _error(await client.call("test.write"))["message"].startswith("missing scope")
        assert (await client.call("health"))["ok"]  # 19 refusals: still open
        rid = await client.send_request("test.write")
        assert _error(await client.response(rid))["message"].startswith("missing scope")
        code, reason = await client.wait_closed()
        assert code == 1008
        assert reason == "repeated unauthorized calls"
    finally:
        await client.close()


async def test_a_node_may_call_health_without_operator_scopes(tokens: dict[str, str]) -> None:
    """§1.6: health is open to any authenticated connection, nodes included."""
    client = await _connected(
        scopes=[], role="node", mode="node", client_id="node-host", device=DeviceKey()
    )
    try:
        res = await client.call("health")
        assert res["ok"], res
        refused = _error(await client.call("sessions.list"))
        assert refused["message"] == "unauthorized role: node"
    finally:
        await client.close()


# --- events -----------------------------------------------------------------------------------
async def test_events_carry_a_per_connection_seq_increasing_by_one(
    settings: Any, tokens: dict[str, str]
) -> None:
    settings.GATEWAY_TICK_INTERVAL_MS = 100
    first = await _connected(client_id="openclaw-tui", mode="ui")  # has a presence entry
    try:
        await first.wait_event("tick", wait_s=2)
        second = await _connected(client_id="openclaw-tui", mode="ui")  # presence to first
        try:
            for _ in range(3):
                await second.wait_event("tick", wait_s=2)
            await first.wait_event("presence", wait_s=2)
            await first.wait_event("tick", wait_s=2)
        finally:
            await second.close()
        for client in (first, second):
            seqs = [e["seq"] for e in client.events if e["event"] != "connect.challenge"]
            assert seqs == list(range(1, len(seqs) + 1)), client.events
            assert all(isinstance(e.get("payload"), dict) for e in client.events)
        assert {"tick", "presence"} <= {e["event"] for e in first.events}
    finally:
        await first.close()


async def test_a_tick_arrives_every_tick_interval(settings: Any, tokens: dict[str, str]) -> None:
    settings.GATEWAY_TICK_INTERVAL_MS = 150
    client = await _connected()
    try:
        assert client.hello is not None
        assert client.hello["policy"]["tickIntervalMs"] == 150
        stamps = []
        for _ in range(4):
            tick = await client.wait_event("tick", wait_s=2)
            stamps.append(time.monotonic())
            assert isinstance(tick["payload"]["ts"], int)
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert all(0.05 <= gap <= 0.6 for gap in gaps), gaps
    finally:
        await client.close()


async def test_client_strings_are_never_echoed_as_invalid_utf8(tokens: dict[str, str]) -> None:
    r"""A lone surrogate (JSON ``"\ud800"``) in a client's strings must not reach other
    sockets as text a WebSocket cannot encode: a real server's writer dies on it and the
    connection hangs (presence entries reach every operator)."""
    watcher = await _connected(client_id="openclaw-tui", mode="ui")
    try:
        params_client = InProcessClient()
        await params_client.open()
        params = params_client.connect_params(token=TOKEN, scopes=[READ], mode="ui")
        params["client"]["displayName"] = "\ud800"
        res = await params_client.handshake(params)  # refused or accepted, but encodable
        await params_client.close()
        if res["ok"]:
            await watcher.wait_event("presence", wait_s=2)  # recv() checks it is encodable
        error = _error(await watcher.call("\ud800"))
        assert error["code"] == "INVALID_REQUEST"
    finally:
        await watcher.close()


async def test_a_closed_client_leaves_no_presence(tokens: dict[str, str]) -> None:
    client = await _connected(client_id="openclaw-tui", mode="ui")
    assert len(state.presence) == 1
    await client.close()
    assert state.presence == {}


async def test_hello_ok_reports_the_connection(tokens: dict[str, str]) -> None:
    client = await _connected(scopes=[READ, WRITE])
    try:
        hello = client.hello
        assert hello is not None
        assert hello["type"] == "hello-ok"
        assert hello["protocol"] == 4
        assert str(uuid.UUID(hello["server"]["connId"])) == hello["server"]["connId"]
        assert "health" in hello["features"]["methods"]
        assert {"tick", "presence", "chat", "agent"} <= set(hello["features"]["events"])
        assert hello["auth"]["role"] == "operator"
        assert sorted(hello["auth"]["scopes"]) == [READ, WRITE]
        assert hello["policy"]["maxPayload"] == 25 * 1024 * 1024
    finally:
        await client.close()


async def test_a_closed_socket_is_really_closed(tokens: dict[str, str]) -> None:
    async with InProcessClient() as client:
        await client.send_raw("{")
        await client.wait_closed()
        with pytest.raises(GatewayClosedError):
            await client.recv()
