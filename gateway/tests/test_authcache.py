"""The connect cache: token connects without a database call, revocation applies at once."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import authcache
from gateway.connect import gateway_connect_authenticate, gateway_connect_cached
from gateway.frames import ConnectParams
from gateway.services import gateway_token_create, gateway_token_revoke


def _params(token: str, scopes: list[str] | None = None, mode: str = "cli") -> ConnectParams:
    return ConnectParams.model_validate(
        {
            "minProtocol": 4,
            "maxProtocol": 4,
            "client": {"id": "cli", "mode": mode},
            "auth": {"token": token},
            "role": "operator",
            "scopes": scopes or ["operator.read"],
        }
    )


def _full(params: ConnectParams) -> Any:
    return gateway_connect_authenticate(
        params=params,
        nonce="n",
        is_local=True,
        browser_origin=False,
        remote_ip="127.0.0.1",
        now_ms=0,
    )


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    authcache.clear()


@pytest.mark.django_db
def test_a_known_token_connects_from_the_cache_with_no_query(
    django_assert_num_queries: Any,
) -> None:
    issued = gateway_token_create(name="cli", scopes=["operator.read", "operator.write"])
    params = _params(issued.token, ["operator.read", "operator.admin"])
    assert gateway_connect_cached(params=params) is None  # cold: take the full path
    full = _full(params)
    with django_assert_num_queries(0):
        cached = gateway_connect_cached(params=params)
    assert cached is not None
    assert cached.scopes == full.scopes == frozenset({"operator.read"})
    assert cached.default_agent_id == full.default_agent_id


@pytest.mark.django_db
def test_revoking_a_token_empties_the_cache_at_once() -> None:
    issued = gateway_token_create(name="cli")
    params = _params(issued.token)
    _full(params)
    assert gateway_connect_cached(params=params) is not None
    gateway_token_revoke(token_pk=issued.record.pk)
    assert gateway_connect_cached(params=params) is None


@pytest.mark.django_db
def test_probe_connections_get_no_scopes_from_the_cache_either() -> None:
    issued = gateway_token_create(name="cli")
    _full(_params(issued.token))
    cached = gateway_connect_cached(params=_params(issued.token, mode="probe"))
    assert cached is not None
    assert cached.scopes == frozenset()


def test_unknown_tokens_and_devices_take_the_full_path() -> None:
    assert gateway_connect_cached(params=_params("never-seen-token-0123456789")) is None
