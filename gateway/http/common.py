"""What the HTTP API views share: the client's address, the body, JSON answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from gateway import proxies

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


P = ParamSpec("P")
T = TypeVar("T")


def _tidy(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def db(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run one database call (a service or selector) on the shared worker threads.

    Not ``database_sync_to_async``: under Django's ASGI handler that runs on a thread of
    the request's own, which opens a fresh database connection for every request and is
    then dropped. These threads are few and reused, and so are their connections
    (stale ones are closed around each call, as ``database_sync_to_async`` does). Each
    call is a whole unit of work: nothing may rely on two calls sharing a thread.
    """
    return await sync_to_async(_tidy, thread_sensitive=False)(fn, *args, **kwargs)


@dataclass(frozen=True)
class Client:
    ip: str | None
    is_local: bool


def headers_of(request: HttpRequest) -> dict[str, str]:
    """The request's headers with lower-case names."""
    return {name.lower(): value for name, value in request.headers.items()}


async def client_of(request: HttpRequest) -> Client:
    """Who sent the request: behind a trusted proxy the forwarded client (``gateway.proxies``)."""
    headers = headers_of(request)
    if proxies.needs_lookup(headers):
        await db(proxies.trusted_networks)
    peer = request.META.get("REMOTE_ADDR") or None
    address = proxies.resolve_client(peer, headers, proxies.cached_networks())
    return Client(address.ip, address.is_local)


def bearer_token(request: HttpRequest) -> str | None:
    raw = request.headers.get("Authorization", "").strip()
    if raw[:7].lower() != "bearer ":
        return None
    return raw[7:].strip() or None


class BodyError(Exception):
    """A body that cannot be used: ``status`` 413 (too large) or 400 (not JSON)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_body(request: HttpRequest, max_bytes: int, *, empty: Any = None) -> Any:
    """The request's JSON body, at most ``max_bytes``; ``empty`` for an empty body.

    Read from the stream, not ``request.body`` (whose cap is Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``, not the endpoint's). Raises ``BodyError``.
    """
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyError(413, "payload too large")
    raw = request.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise BodyError(413, "payload too large")
    if not raw.strip():
        if empty is not None:
            return empty
        raise BodyError(400, "the request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyError(400, f"the request body is not valid JSON: {exc}") from None


def text_response(status: int, text: str, **headers: str) -> HttpResponse:
    response = HttpResponse(text, status=status, content_type=TEXT_CONTENT_TYPE)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def json_response(status: int, body: Any, **headers: str) -> JsonResponse:
    response = JsonResponse(
        body, status=status, safe=False, json_dumps_params={"ensure_ascii": False}
    )
    response["Content-Type"] = JSON_CONTENT_TYPE
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def openai_error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    **headers: str,
) -> JsonResponse:
    """An OpenAI-style error: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return json_response(status, body, **headers)


def method_not_allowed(allow: str = "POST") -> HttpResponse:
    return text_response(405, "Method Not Allowed", Allow=allow)
