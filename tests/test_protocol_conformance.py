"""Replay what OpenClaw's own clients sent (tests/fixtures/openclaw-frames.jsonl) against a
live ``manage.py gateway`` and check our answers have OpenClaw's shape.

Only the client side (``c2s``) of each captured connection is replayed, in order: the
``connect`` params as captured (the redacted token/password replaced by ours; a device
identity replaced by a fresh Ed25519 key signed over *our* challenge nonce), then every
request with its captured id. A request is sent only once the responses the real client
had received before sending it have arrived, so pipelined bursts (the Control UI's
startup) stay pipelined and dependent calls stay dependent.

What is checked:

- every connection gets hello-ok (protocol 4, the §1.5 shape) and the server never
  closes the socket during the replay;
- every request gets as many ``res`` as OpenClaw gave (``agent``: the ``accepted`` ack,
  then the final), each well-formed: ``type``, same ``id``, ``ok``; ``payload`` when ok,
  ``error{code, message}`` with an OpenClaw error code when not;
- events are well-formed and their ``seq`` goes 1, 2, 3… per connection;
- the scopes granted match what OpenClaw granted to the same connect;
- per method, the top-level payload keys match OpenClaw's (see ``test_payload_keys``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import GatewayProcess, child_env
from tests.openclaw_client import DeviceKey, GatewayClosedError, OpenClawClient, sign_device

pytestmark = pytest.mark.process

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "openclaw-frames.jsonl"
TOKEN = "conformance-" + secrets.token_hex(24)
ERROR_CODES = frozenset(
    # FORBIDDEN: OpenClaw 2026.9.6's answer to a missing scope (captured frames).
    {"NOT_LINKED", "NOT_PAIRED", "AGENT_TIMEOUT", "INVALID_REQUEST", "UNAVAILABLE", "FORBIDDEN"}
)
RES_KEYS = frozenset({"type", "id", "ok", "payload", "error"})
EVENT_KEYS = frozenset({"type", "event", "payload", "seq", "stateVersion"})
RESPONSE_WAIT_S = 20.0
# After the last answer, how long the socket must stay open (the server must not close it).
GRACE_S = 0.3

# Methods the reference names for these clients (openclaw-protocol.md §1.6/§2.1 and
# openclaw-real-client.md: the `gateway call`s, the TUI's startup and per-turn calls, the
# Control UI's named startup calls): answering "unknown method" to one of them fails.
# Any other method the captured clients call (OpenClaw 2026.9 extensions such as board.get)
# may answer a well-formed error instead, as openclaw-real-client.md allows; its key
# comparison is then skipped, with the reason in the skip message.
REQUIRED_METHODS = frozenset(
    {
        "health", "status", "agent", "chat.send", "chat.history", "chat.startup",
        "sessions.subscribe", "sessions.list", "sessions.describe", "agents.list",
        "commands.list", "question.list", "plugin.approval.list", "taskSuggestions.list",
        "config.get", "models.authStatus", "cron.list", "cron.status", "system.info",
    }
)  # fmt: skip

# Top-level payload keys allowed to be absent from ours although OpenClaw sent them,
# because the reference documents them as optional (besides keys that OpenClaw itself
# left out of some captured answer of the same method, which count as optional too).
DOCUMENTED_OPTIONAL_KEYS: dict[str, frozenset[str]] = {
    # §1.5 [L v4]: pluginSurfaceUrls (replaces canvasHostUrl) and controlUiTabs are optional.
    "connect": frozenset({"pluginSurfaceUrls", "canvasHostUrl", "controlUiTabs"}),
}
# Top-level payload keys ours may add to OpenClaw's (superset allowed only here).
ALLOWED_EXTRA_KEYS: dict[str, frozenset[str]] = {
    # §1.5: canvasHostUrl is the v3 name of pluginSurfaceUrls, still optional in v4.
    "connect": frozenset({"canvasHostUrl"}),
    # The captured chat.startup was for a session that did not exist yet; for one that
    # does, OpenClaw's handleChatHistoryRequest adds these too (the latest window).
    "chat.startup": frozenset({"sessionId", "deltaCursor", "nextOffset", "offset"}),
}


# --- the capture ---------------------------------------------------------------------------
@dataclass
class CapturedConn:
    conn: int
    marker: str
    headers: dict[str, str]
    timeline: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def connect(self) -> dict[str, Any]:
        return next(f for d, f in self.timeline if d == "c2s" and f.get("method") == "connect")

    @property
    def hello(self) -> dict[str, Any]:
        connect_id = self.connect["id"]
        return next(f for d, f in self.timeline if d == "s2c" and f.get("id") == connect_id)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return [
            f
            for d, f in self.timeline
            if d == "c2s" and f.get("type") == "req" and f.get("method") != "connect"
        ]

    def captured_responses(self, request_id: str) -> list[dict[str, Any]]:
        return [
            f
            for d, f in self.timeline
            if d == "s2c" and f.get("type") == "res" and f.get("id") == request_id
        ]

    @property
    def label(self) -> str:
        """``c<conn>-<client command>``, e.g. ``c05-openclaw-status-probe``."""
        first = self.requests[0]["method"] if self.requests else "connect"
        mode = self.connect["params"]["client"]["mode"]
        found = re.search(r"openclaw (gateway call|tui|health|status|agent)", self.marker)
        if found is None:
            command = "control-ui" if "Control UI" in self.marker else f"bench-{first}"
        elif found.group(1) == "gateway call":
            command = f"gateway-call-{first}"
        else:
            command = f"openclaw-{found.group(1)}"
        return f"c{self.conn:02d}-{command}" + ("-probe" if mode == "probe" else "")

    @property
    def has_device(self) -> bool:
        return "device" in self.connect["params"]


def load_capture(path: Path = FIXTURE) -> list[CapturedConn]:
    conns: dict[int, CapturedConn] = {}
    marker = ""
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if "marker" in record:
            marker = record["marker"]
            continue
        if "conn" not in record:
            continue
        number = record["conn"]
        if record["dir"] == "open":
            conns[number] = CapturedConn(number, marker, dict(record.get("headers") or {}))
        elif record["dir"] in ("c2s", "s2c"):
            conns[number].timeline.append((record["dir"], record["frame"]))
    return [c for c in conns.values() if any(f.get("method") == "connect" for _, f in c.timeline)]


CAPTURE = load_capture()
BY_LABEL = {c.label: c for c in CAPTURE}
DEVICE_LABELS = [c.label for c in CAPTURE if c.has_device]
CALLED_METHODS = sorted({r["method"] for c in CAPTURE for r in c.requests})


def _redacted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<redacted")


def adapt_connect(params: dict[str, Any], *, nonce: str, token: str) -> dict[str, Any]:
    """The captured connect params with our secret and, for device clients, a fresh
    identity signed over our challenge (as the real client would sign it)."""
    adapted = copy.deepcopy(params)
    auth = adapted.get("auth")
    if isinstance(auth, dict):
        for key in ("token", "password"):
            if _redacted(auth.get(key)):
                auth[key] = token
    if "device" in adapted:
        adapted["device"] = sign_device(adapted, DeviceKey(), nonce=nonce)
    return adapted


# --- the replay ----------------------------------------------------------------------------
@dataclass
class Exchange:
    request: dict[str, Any]
    captured: list[dict[str, Any]]
    ours: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Replay:
    captured: CapturedConn
    hello: dict[str, Any] | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    non_json: int = 0
    failure: str | None = None  # the replay could not finish: why
    closed_by_server: tuple[int | None, str | None] | None = None

    def exchanges_for(self, method: str) -> list[Exchange]:
        return [x for x in self.exchanges if x.request["method"] == method]


async def _send_requests(client: OpenClawClient, captured: CapturedConn, result: Replay) -> None:
    """Send each captured request once the answers its client had before it arrived."""
    exchanges: dict[str, Exchange] = {}
    received: dict[str, int] = {}  # captured res per id seen so far in the timeline
    for direction, frame in captured.timeline:
        if direction == "s2c" and frame.get("type") == "res" and frame["id"] in exchanges:
            received[frame["id"]] = received.get(frame["id"], 0) + 1
        elif direction == "c2s" and frame.get("method") != "connect":
            for rid, count in received.items():
                await client.response(rid, count - 1)
            exchange = Exchange(frame, captured.captured_responses(frame["id"]))
            exchanges[frame["id"]] = exchange
            result.exchanges.append(exchange)
            await client.send_frame(frame)


async def _await_answers(client: OpenClawClient, result: Replay) -> None:
    """As many answers per request as OpenClaw gave (``agent``: the ack, then the final)."""
    for exchange in result.exchanges:
        for index in range(len(exchange.captured)):
            await client.response(exchange.request["id"], index)


async def replay_conn(captured: CapturedConn, port: int) -> Replay:
    result = Replay(captured)
    # The Control UI page was served by the gateway itself: its origin is ours.
    origin = f"http://127.0.0.1:{port}" if "Origin" in captured.headers else None
    client = OpenClawClient(f"ws://127.0.0.1:{port}/", origin=origin, timeout=RESPONSE_WAIT_S)
    try:
        challenge = await client.open()
        connect = captured.connect
        params = adapt_connect(connect["params"], nonce=challenge["nonce"], token=TOKEN)
        result.hello = await client.handshake(params, request_id=connect["id"])
        if not result.hello.get("ok"):
            result.failure = f"connect refused: {result.hello.get('error')}"
            return result
        await _send_requests(client, captured, result)
        await _await_answers(client, result)
        await asyncio.sleep(GRACE_S)
    except (TimeoutError, GatewayClosedError) as exc:
        result.failure = f"{type(exc).__name__}: {exc}"
    finally:
        if client.closed.is_set():
            result.closed_by_server = (client.close_code, client.close_reason)
        await client.close()
        for exchange in result.exchanges:
            exchange.ours = client.responses(exchange.request["id"])
        result.frames = list(client.frames)
        result.non_json = len(client.non_json)
    return result


async def replay_all(port: int) -> dict[str, Replay]:
    return {c.label: await replay_conn(c, port) for c in CAPTURE}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    data = tmp_path_factory.mktemp("conformance") / "data"
    process = GatewayProcess(child_env(data, OPENCLAW_GATEWAY_TOKEN=TOKEN)).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def replays(gateway: GatewayProcess) -> dict[str, Replay]:
    """Every captured connection replayed once, in capture order, on one live gateway."""
    return asyncio.run(replay_all(gateway.port))


# --- shape checks ---------------------------------------------------------------------------
def error_problems(error: Any) -> list[str]:
    if not isinstance(error, dict):
        return [f"error res without an error object: {error!r}"]
    problems = []
    if error.get("code") not in ERROR_CODES:
        problems.append(f"error code {error.get('code')!r} not in {sorted(ERROR_CODES)}")
    if not isinstance(error.get("message"), str) or not error["message"]:
        problems.append(f"error without a message: {error!r}")
    if "retryable" in error and not isinstance(error["retryable"], bool):
        problems.append(f"retryable is not a bool: {error!r}")
    if "retryAfterMs" in error and not isinstance(error["retryAfterMs"], int):
        problems.append(f"retryAfterMs is not an int: {error!r}")
    return problems


def res_problems(frame: dict[str, Any], request_id: str) -> list[str]:
    problems = []
    if frame.get("type") != "res":
        problems.append(f"type is {frame.get('type')!r}, not 'res'")
    if frame.get("id") != request_id:
        problems.append(f"id {frame.get('id')!r} is not the request's {request_id!r}")
    if set(frame) - RES_KEYS:
        problems.append(f"unexpected fields {sorted(set(frame) - RES_KEYS)}")
    ok = frame.get("ok")
    if not isinstance(ok, bool):
        problems.append(f"ok is {ok!r}, not a bool")
    elif ok and "payload" not in frame:
        problems.append("ok res without payload")
    elif not ok:
        problems.extend(error_problems(frame.get("error")))
    return problems


def hello_problems(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return [f"hello-ok payload is {type(payload).__name__}"]
    problems = []

    def need(obj: Any, path: str, keys: list[str]) -> None:
        if not isinstance(obj, dict):
            problems.append(f"{path} is {type(obj).__name__}, not an object")
            return
        problems.extend(f"{path}.{k} missing" for k in keys if k not in obj)

    if payload.get("type") != "hello-ok":
        problems.append(f"type is {payload.get('type')!r}")
    if payload.get("protocol") != 4:
        problems.append(f"protocol is {payload.get('protocol')!r}, not 4")
    need(payload.get("server"), "server", ["version", "connId"])
    features = payload.get("features")
    need(features, "features", ["methods", "events"])
    if isinstance(features, dict):
        for key in ("methods", "events"):
            value = features.get(key)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"features.{key} is not a list of strings")
    snapshot = payload.get("snapshot")
    need(
        snapshot,
        "snapshot",
        ["presence", "health", "stateVersion", "uptimeMs", "sessionDefaults"],
    )
    if isinstance(snapshot, dict):
        if not isinstance(snapshot.get("presence"), list):
            problems.append("snapshot.presence is not a list")
        if not isinstance(snapshot.get("health"), dict):
            problems.append("snapshot.health is not an object")
        need(snapshot.get("stateVersion"), "snapshot.stateVersion", ["presence", "health"])
        if not isinstance(snapshot.get("uptimeMs"), int):
            problems.append("snapshot.uptimeMs is not an int")
        need(
            snapshot.get("sessionDefaults"),
            "snapshot.sessionDefaults",
            ["defaultAgentId", "mainKey", "mainSessionKey", "scope"],
        )
    auth = payload.get("auth")
    need(auth, "auth", ["role", "scopes"])
    if isinstance(auth, dict) and not isinstance(auth.get("scopes"), list):
        problems.append("auth.scopes is not a list")
    policy = payload.get("policy")
    need(policy, "policy", ["maxPayload", "maxBufferedBytes", "tickIntervalMs"])
    if isinstance(policy, dict):
        problems.extend(
            f"policy.{key} is not an int"
            for key in ("maxPayload", "maxBufferedBytes", "tickIntervalMs")
            if key in policy and not isinstance(policy[key], int)
        )
    return problems


def _replayed(replays: dict[str, Replay], label: str) -> Replay:
    result = replays[label]
    assert result.hello is not None, f"{label}: no hello-ok ({result.failure})"
    assert result.hello.get("ok"), f"{label}: no hello-ok ({result.failure})"
    return result


# --- tests ------------------------------------------------------------------------------------
@pytest.mark.parametrize("label", list(BY_LABEL))
def test_replay_completes_and_the_socket_stays_open(replays: dict[str, Replay], label: str) -> None:
    result = replays[label]
    assert result.failure is None, f"{label} ({result.captured.marker}): {result.failure}"
    assert result.closed_by_server is None, (
        f"{label}: the server closed the socket during the replay: {result.closed_by_server}"
    )
    assert result.non_json == 0, f"{label}: {result.non_json} non-JSON frames received"


@pytest.mark.parametrize("label", list(BY_LABEL))
def test_every_request_gets_well_formed_responses(replays: dict[str, Replay], label: str) -> None:
    result = _replayed(replays, label)
    sent = {x.request["id"] for x in result.exchanges} | {result.captured.connect["id"]}
    problems = [
        f"res for an id never sent: {frame.get('id')!r}"
        for frame in result.frames
        if frame.get("type") == "res" and frame.get("id") not in sent
    ]
    for exchange in result.exchanges:
        method, rid = exchange.request["method"], exchange.request["id"]
        if len(exchange.ours) < len(exchange.captured):
            problems.append(
                f"{method}: {len(exchange.ours)} res, OpenClaw sent {len(exchange.captured)}"
            )
        if len(exchange.ours) > max(1, len(exchange.captured)):
            problems.append(
                f"{method}: {len(exchange.ours)} res, OpenClaw sent {len(exchange.captured)}"
            )
        for frame in exchange.ours:
            problems.extend(f"{method}: {p}" for p in res_problems(frame, rid))
    assert result.hello is not None
    problems.extend(
        f"connect: {p}" for p in res_problems(result.hello, result.captured.connect["id"])
    )
    assert not problems, f"{label}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("label", list(BY_LABEL))
def test_hello_ok_has_the_openclaw_shape(replays: dict[str, Replay], label: str) -> None:
    result = _replayed(replays, label)
    assert result.hello is not None
    problems = hello_problems(result.hello["payload"])
    assert not problems, f"{label}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("label", DEVICE_LABELS)
def test_device_clients_get_a_device_token(replays: dict[str, Replay], label: str) -> None:
    result = _replayed(replays, label)
    assert result.hello is not None
    auth = result.hello["payload"]["auth"]
    assert isinstance(auth.get("deviceToken"), str), auth
    assert len(auth["deviceToken"]) >= 32, auth
    assert auth["role"] == "operator"


@pytest.mark.parametrize("label", list(BY_LABEL))
def test_granted_scopes_match_openclaw(replays: dict[str, Replay], label: str) -> None:
    """The same connect gets the same scopes as from OpenClaw 2026.9.6 (same token rights)."""
    result = _replayed(replays, label)
    assert result.hello is not None
    ours = sorted(result.hello["payload"]["auth"]["scopes"])
    theirs = sorted(result.captured.hello["payload"]["auth"]["scopes"])
    requested = result.captured.connect["params"].get("scopes")
    assert ours == theirs, (
        f"{label}: requested {requested}, OpenClaw granted {theirs}, we granted {ours}"
    )


@pytest.mark.parametrize("label", list(BY_LABEL))
def test_events_are_well_formed_with_contiguous_seq(replays: dict[str, Replay], label: str) -> None:
    result = _replayed(replays, label)
    events = [f for f in result.frames if f.get("type") == "event"]
    problems = []
    assert events, "no events at all"
    assert events[0].get("event") == "connect.challenge", "challenge not first"
    if "seq" in events[0]:
        problems.append("connect.challenge carries a seq")
    seqs = []
    for event in events[1:]:
        name = event.get("event")
        if not isinstance(name, str) or not name:
            problems.append(f"event without a name: {event}")
        if "payload" not in event:
            problems.append(f"{name}: no payload")
        if set(event) - EVENT_KEYS:
            problems.append(f"{name}: unexpected fields {sorted(set(event) - EVENT_KEYS)}")
        if not isinstance(event.get("seq"), int):
            problems.append(f"{name}: seq is {event.get('seq')!r}")
        else:
            seqs.append(event["seq"])
        state_version = event.get("stateVersion")
        if state_version is not None and not (
            isinstance(state_version, dict)
            and all(isinstance(state_version.get(k), int) for k in ("presence", "health"))
        ):
            problems.append(f"{name}: bad stateVersion {state_version!r}")
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"seq is not 1, 2, 3…: {seqs}")
    assert not problems, f"{label}:\n  " + "\n  ".join(problems)


def _keys(payload: Any) -> frozenset[str] | str:
    return frozenset(payload) if isinstance(payload, dict) else type(payload).__name__


def _unknown(frame: dict[str, Any]) -> bool:
    error = frame.get("error") or {}
    return not frame.get("ok") and str(error.get("message", "")).startswith("unknown method")


Pair = tuple[str, dict[str, Any], dict[str, Any]]  # (label, OpenClaw's res, our res)


def _collect(replays: dict[str, Replay], method: str) -> tuple[list[Pair], list[str], list[str]]:
    """(answers to compare, labels where we said "unknown method", our refusals of calls
    OpenClaw answered ok)."""
    pairs: list[Pair] = []
    unknown: list[str] = []
    refused: list[str] = []
    for label, result in replays.items():
        if result.hello is None or not result.hello.get("ok"):
            continue
        if method == "connect":
            pairs.append((label, result.captured.hello, result.hello))
        for exchange in result.exchanges_for(method):
            for theirs, ours in zip(exchange.captured, exchange.ours, strict=False):
                if not theirs.get("ok"):
                    continue
                if _unknown(ours):
                    unknown.append(label)
                elif not ours.get("ok"):
                    refused.append(
                        f"OpenClaw answered ok, we refused: {label}: {ours.get('error')}"
                    )
                else:
                    pairs.append((label, theirs, ours))
    return pairs, unknown, refused


def _key_problems(method: str, pairs: list[Pair]) -> list[str]:
    theirs_keys = [_keys(t.get("payload")) for _, t, _ in pairs]
    sets = [k for k in theirs_keys if isinstance(k, frozenset)]
    optional = DOCUMENTED_OPTIONAL_KEYS.get(method, frozenset())
    if sets:  # a key OpenClaw itself left out of one of its answers is optional
        optional |= frozenset.union(*sets) - frozenset.intersection(*sets)
    extra_ok = ALLOWED_EXTRA_KEYS.get(method, frozenset())
    problems = []
    for label, theirs, ours in pairs:
        t_keys, o_keys = _keys(theirs.get("payload")), _keys(ours.get("payload"))
        if isinstance(t_keys, str) or isinstance(o_keys, str):
            if t_keys != o_keys:
                problems.append(f"{label}: payload is {o_keys}, OpenClaw's is {t_keys}")
            continue
        missing = sorted(t_keys - o_keys - optional)
        extra = sorted(o_keys - t_keys - extra_ok)
        if missing or extra:
            problems.append(f"{label}: missing {missing}, extra {extra}")
    return problems


@pytest.mark.parametrize("method", ["connect", *CALLED_METHODS])
def test_payload_keys_match_openclaw(replays: dict[str, Replay], method: str) -> None:
    """Top-level payload keys of our answers against OpenClaw's to the same request.

    Keys OpenClaw left out of one of its captured answers to the method, or documented
    optional, may be missing from ours; ours may add keys only where ALLOWED_EXTRA_KEYS
    says so. Where OpenClaw answered ok, ours must answer ok too.
    """
    pairs, unknown, refused = _collect(replays, method)
    if unknown and not pairs and not refused:
        if method in REQUIRED_METHODS:
            pytest.fail(f"{method} is not implemented (answered 'unknown method' on {unknown})")
        pytest.skip(f"{method}: not implemented here; answered a well-formed 'unknown method'")
    if not pairs and not refused:
        pytest.skip(f"{method}: OpenClaw answered no ok res to compare with")
    problems = list(dict.fromkeys([*refused, *_key_problems(method, pairs)]))
    assert not problems, f"{method}:\n  " + "\n  ".join(problems)


def test_the_status_probe_connection_speaks_4_and_stays_open(
    replays: dict[str, Replay],
) -> None:
    """`openclaw status` opens a mode:"probe" connection offering protocols 3..4."""
    probes = [
        r for r in replays.values() if r.captured.connect["params"]["client"]["mode"] == "probe"
    ]
    assert probes, "the capture has no probe connection"
    for result in probes:
        assert result.captured.connect["params"]["minProtocol"] == 3
        assert result.hello is not None
        assert result.hello.get("ok"), result.hello
        assert result.hello["payload"]["protocol"] == 4
        assert result.closed_by_server is None


def test_the_capture_covers_the_clients_the_brief_names() -> None:
    modes = {
        (c.connect["params"]["client"]["id"], c.connect["params"]["client"]["mode"])
        for c in CAPTURE
    }
    assert {
        ("cli", "cli"),
        ("cli", "probe"),
        ("gateway-client", "backend"),
        ("openclaw-tui", "ui"),
        ("openclaw-control-ui", "webchat"),
    } <= modes
    assert set(DEVICE_LABELS) == {
        c.label for c in CAPTURE if c.connect["params"]["client"]["id"].startswith("openclaw-")
    }


def test_gateway_call_agent_expect_final(gateway: GatewayProcess) -> None:
    """``openclaw gateway call agent --expect-final``: an ``accepted`` ack, then the final
    answer on the same request id (the client skips the ack)."""
    captured = next(c for c in CAPTURE if any(r["method"] == "agent" for r in c.requests))
    request = next(r for r in captured.requests if r["method"] == "agent")
    params = {**request["params"], "idempotencyKey": "conformance-" + secrets.token_hex(8)}

    async def run() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        url = f"ws://127.0.0.1:{gateway.port}/"
        async with OpenClawClient(url, timeout=RESPONSE_WAIT_S) as client:
            connect = adapt_connect(
                captured.connect["params"], nonce=client.challenge_nonce, token=TOKEN
            )
            hello = await client.handshake(connect)
            assert hello["ok"], hello
            first, final = await client.expect_final("agent", params)
            return first, final, client.responses(first["id"])

    first, final, answers = asyncio.run(run())
    assert first["ok"], first
    assert first["payload"]["status"] == "accepted"
    assert first["payload"]["runId"] == params["idempotencyKey"]
    assert not res_problems(final, first["id"]), final
    assert len(answers) == 2, answers
    if final["ok"]:
        assert final["payload"]["runId"] == params["idempotencyKey"]
        assert final["payload"]["status"] in ("ok", "error", "timeout"), final
        assert isinstance(final["payload"]["result"]["payloads"], list), final
