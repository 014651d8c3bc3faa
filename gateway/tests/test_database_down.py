"""The doors while the database is down (core.dbdown): a clear, retryable refusal, never a
traceback or a dropped socket. tests/test_postgres_outage_process.py crashes a real
PostgreSQL under a running topology; these pin each door's answer in the default run."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.test import RequestFactory, override_settings
from pydantic import BaseModel

from gateway import origins, proxies
from gateway.calls import answer_frames
from gateway.connect import ConnectError, gateway_connect_authenticate
from gateway.frames import ConnectParams
from gateway.http.middleware import RequestContextMiddleware
from gateway.methods.registry import CallContext, Method, NoParams

REFUSED = OperationalError("connection failed: connection to 10.1.2.3 port 5432 refused")


def _frames(handler: Any) -> list[dict[str, Any]]:
    method = Method("chat.history", handler, "operator.read", NoParams, is_async=False)
    ctx = CallContext("c1", "operator", frozenset(), "cli", "cli", None, frozenset())

    async def collect() -> list[dict[str, Any]]:
        return [f async for f in answer_frames("r1", method, ctx, NoParams())]

    return asyncio.run(collect())


@pytest.mark.parametrize("exc", [REFUSED, InterfaceError("the connection is closed")])
def test_an_rpc_meeting_the_database_down_is_refused_saying_so(exc: Exception) -> None:
    def handler(ctx: CallContext, params: BaseModel) -> Any:
        raise exc

    [frame] = _frames(handler)
    assert frame["ok"] is False
    error = frame["error"]
    assert error["code"] == "UNAVAILABLE"
    assert error["message"] == (
        f"chat.history failed: the database is unavailable ({type(exc).__name__}); "
        "retry in a few seconds"
    )
    assert error["details"] == {"code": "DATABASE_UNAVAILABLE"}
    assert error["retryable"] is True
    assert error["retryAfterMs"] == 2000
    assert "10.1.2.3" not in str(frame)  # the server's address stays in the log


def test_other_failures_keep_the_generic_answer() -> None:
    def handler(ctx: CallContext, params: BaseModel) -> Any:
        raise RuntimeError("bug")

    [frame] = _frames(handler)
    assert frame["error"]["message"] == "chat.history failed; see the gateway log"


def test_a_connect_meeting_the_database_down_is_refused_with_1013() -> None:
    params = ConnectParams.model_validate(
        {
            "minProtocol": 4,
            "maxProtocol": 4,
            "client": {"id": "cli", "mode": "cli"},
            "auth": {"token": "t" * 40},
            "role": "operator",
        }
    )
    with (
        mock.patch("gateway.connect._shared_secret_scopes", side_effect=REFUSED),
        pytest.raises(ConnectError) as refused,
    ):
        gateway_connect_authenticate(
            params=params,
            nonce="n",
            is_local=True,
            browser_origin=False,
            remote_ip="127.0.0.1",
            now_ms=0,
        )
    assert refused.value.code == "UNAVAILABLE"
    assert "the database is unavailable" in refused.value.message
    assert refused.value.details == {"code": "DATABASE_UNAVAILABLE", "retryAfterMs": 2000}
    assert refused.value.close_code == 1013
    assert not refused.value.counts_as_auth_failure


def test_an_http_view_meeting_the_database_down_answers_503_saying_so() -> None:
    middleware = RequestContextMiddleware(lambda request: mock.Mock())
    request = RequestFactory().get("/api/v1/nodes")
    response = middleware.process_exception(request, REFUSED)
    assert isinstance(response, JsonResponse)
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    error = json.loads(response.content)["error"]
    assert error["code"] == "DATABASE_UNAVAILABLE"
    assert error["message"].startswith("GET /api/v1/nodes failed: the database is unavailable")
    assert middleware.process_exception(request, RuntimeError("bug")) is None  # Django's 500


@override_settings(GATEWAY_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_the_trusted_proxies_fall_back_to_the_last_loaded_while_the_database_is_down() -> None:
    proxies.forget()
    try:
        with mock.patch("gateway.proxies.config_entry_value", side_effect=REFUSED):
            assert [str(n) for n in proxies.trusted_networks()] == ["10.0.0.0/8"]
            assert [str(n) for n in proxies.cached_networks()] == ["10.0.0.0/8"]
    finally:
        proxies.forget()


@override_settings(GATEWAY_ALLOWED_ORIGINS=["https://chat.example.com"])
def test_the_origin_policy_falls_back_to_the_last_loaded_while_the_database_is_down() -> None:
    origins.forget()
    try:
        with mock.patch("gateway.origins.config_entry_value", side_effect=REFUSED):
            asyncio.run(origins.policy_ready("https://chat.example.com"))
        assert "https://chat.example.com" in str(origins.cached_policy().allowed)
    finally:
        origins.forget()
