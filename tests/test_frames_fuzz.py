"""Property tests: client input never makes frame parsing, params validation or device
verification raise anything but the error they are meant to raise.

Strings include lone surrogates on purpose: a JSON ``"\\ud800"`` escape decodes to one,
and it cannot be UTF-8 encoded.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.frames import CancelFrame, ConnectParams, FrameError, RequestFrame, parse_frame
from gateway.lib.device_auth import DeviceAuthError, VerifiedDevice, signed_payload, verify_device
from gateway.methods import REGISTRY
from tests.openclaw_client import DeviceKey, b64url

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PER_METHOD = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRICKY = [
    "", " ", "\ud800", "a\udfffb", "\x00", "|", "||", "=", "==", "-", "_", "é", "\u2028",
    "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----",
    "BEGIN PUBLIC KEY", "x" * 300, "connect", "req", "operator", "operator.read",
]  # fmt: skip

texts = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=10),
    st.sampled_from(TRICKY),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=25,
)


def _dumps(value: Any) -> str:
    return json.dumps(value)  # ensure_ascii: lone surrogates travel as \\udXXX escapes


# --- parse_frame -------------------------------------------------------------------------------
def _check_parsed(result: Any) -> None:
    assert result is None or isinstance(result, (RequestFrame, CancelFrame, FrameError))
    if isinstance(result, FrameError):
        assert isinstance(result.message, str)
        assert result.message
        assert isinstance(result.request_id, str)
        assert 0 < len(result.request_id) <= 256
    if isinstance(result, RequestFrame):
        assert isinstance(result.id, str)
        assert result.id
        assert isinstance(result.method, str)
        assert result.method


@FUZZ
@given(st.text())
def test_parse_frame_never_raises_on_any_text(text: str) -> None:
    _check_parsed(parse_frame(text))


@FUZZ
@given(json_values)
def test_parse_frame_never_raises_on_any_json(value: Any) -> None:
    _check_parsed(parse_frame(_dumps(value)))


frame_like = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["req", "cancel", "event", "res", "hello"]), json_values)},
    optional={
        "id": st.one_of(texts, json_values),
        "method": st.one_of(st.sampled_from(["connect", "health", "chat.send"]), json_values),
        "params": json_values,
        "payload": json_values,
        "extra": json_values,
    },
)


@FUZZ
@given(frame_like)
def test_parse_frame_never_raises_on_frame_like_objects(value: dict[str, Any]) -> None:
    result = parse_frame(_dumps(value))
    _check_parsed(result)
    if value.get("type") == "req" and isinstance(result, RequestFrame):
        assert result.id == value["id"]
        assert result.method == value["method"]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        '{"a":' * 50_000,
        "1" * 10_000,  # past Python's int-from-string digit limit
        '{"type":"req","id":"1","method":"x","params":' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"type":"req","id":"' + "i" * 10_000 + '","method":"x"}',
        '{"type":"req","id":"1","method":"x","params":' + "[" * 990 + '"\\ud800"' + "]" * 990 + "}",
        "\ufeff{}",
        "NaN",
        '{"type":"req","id":"1","method":"health","params":NaN}',
    ],
    ids=[
        "deep-array",
        "deep-object",
        "huge-int",
        "deep-params",
        "long-id",
        "deep-surrogate",
        "bom",
        "nan",
        "nan-params",
    ],
)
def test_parse_frame_survives_pathological_text(text: str) -> None:
    _check_parsed(parse_frame(text))


# --- params models ------------------------------------------------------------------------------
def _validate_only_validation_errors(model: Any, value: Any) -> None:
    with contextlib.suppress(ValidationError):
        model.model_validate(value)


@FUZZ
@given(json_values)
def test_connect_params_raise_only_validation_errors(value: Any) -> None:
    _validate_only_validation_errors(ConnectParams, value)


connect_like = st.fixed_dictionaries(
    {
        "minProtocol": st.one_of(st.integers(-5, 10), json_values),
        "maxProtocol": st.one_of(st.integers(-5, 10), json_values),
        "client": st.fixed_dictionaries(
            {
                "id": st.one_of(st.sampled_from(["cli", "openclaw-tui", "nope"]), json_values),
                "mode": st.one_of(st.sampled_from(["cli", "ui", "probe", "x"]), json_values),
            },
            optional={"version": json_values, "platform": json_values, "deviceFamily": texts},
        ),
    },
    optional={
        "role": json_values,
        "scopes": st.one_of(st.lists(texts), json_values),
        "caps": st.one_of(st.lists(texts), json_values),
        "auth": st.one_of(
            st.fixed_dictionaries({}, optional={"token": texts, "deviceToken": json_values}),
            json_values,
        ),
        "device": st.one_of(
            st.fixed_dictionaries(
                {
                    "id": texts,
                    "publicKey": texts,
                    "signature": texts,
                    "signedAt": st.one_of(st.integers(), json_values),
                    "nonce": texts,
                }
            ),
            json_values,
        ),
        "permissions": json_values,
        "commands": json_values,
        "modelCatalog": json_values,
    },
)


@FUZZ
@given(connect_like)
def test_connect_like_params_raise_only_validation_errors(value: dict[str, Any]) -> None:
    _validate_only_validation_errors(ConnectParams, value)


@pytest.mark.parametrize("method", sorted(REGISTRY))
@PER_METHOD
@given(value=json_values)
def test_method_params_raise_only_validation_errors(method: str, value: Any) -> None:
    _validate_only_validation_errors(REGISTRY[method].params, value)


@pytest.mark.parametrize("method", sorted(REGISTRY))
@PER_METHOD
@given(values=st.lists(json_values, max_size=8))
def test_method_params_with_their_own_field_names(method: str, values: list[Any]) -> None:
    """Arbitrary values under the model's own field names (and aliases)."""
    model = REGISTRY[method].params
    names = [field.alias or name for name, field in model.model_fields.items()] or ["x"]
    keyed = {names[i % len(names)]: value for i, value in enumerate(values)}
    _validate_only_validation_errors(model, keyed)


# --- verify_device -----------------------------------------------------------------------------
def _verify(**overrides: Any) -> VerifiedDevice | None:
    args: dict[str, Any] = {
        "device_id": "",
        "public_key": "",
        "signature": "",
        "signed_at_ms": 0,
        "nonce": "",
        "expected_nonce": "",
        "client_id": "cli",
        "client_mode": "cli",
        "role": "operator",
        "scopes": [],
        "token": "",
        "platform": None,
        "device_family": None,
        "now_ms": 0,
    }
    args.update(overrides)
    error: DeviceAuthError | None = None
    try:
        return verify_device(**args)
    except DeviceAuthError as exc:
        error = exc
    assert error.code.startswith("DEVICE_AUTH_"), error.code
    assert error.reason
    return None


@FUZZ
@given(
    device_id=texts,
    public_key=texts,
    signature=texts,
    nonce=texts,
    expected_nonce=texts,
    client_id=texts,
    client_mode=texts,
    role=texts,
    scopes=st.lists(texts, max_size=3),
    token=texts,
    platform=st.none() | texts,
    device_family=st.none() | texts,
    signed_at_ms=st.integers(),
    now_ms=st.integers(),
)
def test_verify_device_with_arbitrary_strings_raises_only_device_auth_errors(
    **kwargs: Any,
) -> None:
    _verify(**kwargs)


KEY = DeviceKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
PEM = (
    KEY.private_key.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
NOW = int(time.time() * 1000)
NONCE = "6a1d8d63-4cbe-4f0b-9f8e-1f2f7f5d3c2a"


@FUZZ
@given(
    public_key=st.sampled_from([KEY.public_key, PEM]),
    signature=st.one_of(texts, st.binary(max_size=80).map(b64url)),
    client_id=texts,
    client_mode=texts,
    role=texts,
    scopes=st.lists(texts, max_size=3),
    token=texts,
    platform=st.none() | texts,
    device_family=st.none() | texts,
    skew=st.integers(-120_000, 120_000),
)
def test_verify_device_past_the_cheap_checks_raises_only_device_auth_errors(
    skew: int, **kwargs: Any
) -> None:
    """A real key, its id, the right nonce and a fresh time: only the signature is left to
    fail, for any other field (lone surrogates included)."""
    _verify(
        device_id=KEY.device_id,
        nonce=NONCE,
        expected_nonce=NONCE,
        signed_at_ms=NOW + skew,
        now_ms=NOW,
        **kwargs,
    )


safe_texts = st.text(max_size=30)


@FUZZ
@given(
    version=st.sampled_from(["v2", "v3"]),
    client_id=safe_texts,
    client_mode=safe_texts,
    role=safe_texts,
    scopes=st.lists(safe_texts, max_size=4),
    token=safe_texts,
    platform=st.none() | safe_texts,
    device_family=st.none() | safe_texts,
)
def test_a_correct_v2_or_v3_signature_always_verifies(version: str, **fields: Any) -> None:
    payload = signed_payload(
        version=version, device_id=KEY.device_id, signed_at_ms=NOW, nonce=NONCE, **fields
    )
    if version == "v3":  # our client signs v3 independently: the two must agree
        assert payload == KEY.payload_v3(
            device_id=KEY.device_id, signed_at_ms=NOW, nonce=NONCE, **fields
        )
    verified = _verify(
        device_id=KEY.device_id,
        public_key=KEY.public_key,
        signature=KEY.sign(payload),
        signed_at_ms=NOW,
        nonce=NONCE,
        expected_nonce=NONCE,
        now_ms=NOW,
        **fields,
    )
    assert verified is not None
    assert verified.device_id == KEY.device_id
    assert verified.public_key == KEY.public_key
    # v3 is tried first; a v2 payload can only pass as v2.
    assert verified.signature_version == version
