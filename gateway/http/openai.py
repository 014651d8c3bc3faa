"""The OpenAI-compatible API: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Off by default (404): ``config set gateway.http.endpoints.chatCompletions.enabled true``
turns on chat completions, ``…responses.enabled`` the Responses API (``responses.py``);
``/v1/models`` answers when either is on. A request authenticates with a gateway token
(``Authorization: Bearer``; the password in password mode) and needs
``operator.write`` (``operator.read`` for the models). One request is one agent turn,
started through ``run_start`` and followed on the event bus; ``stream: true`` answers
server-sent ``chat.completion.chunk`` lines ending in ``data: [DONE]``. Errors are
OpenAI's ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from pydantic import ValidationError

from gateway import http_config
from gateway import scopes as gw_scopes
from gateway.api_runs import ApiError, api_models, api_run_start
from gateway.http.auth import Refusal, gateway_caller
from gateway.http.common import (
    BodyError,
    client_of,
    db,
    json_body,
    json_response,
    method_not_allowed,
    openai_error,
)
from gateway.http.follow import Delta, End, RunFollower
from gateway.lib import openai_render as render
from gateway.lib.openai_wire import (
    ApiRequest,
    ChatCompletionRequest,
    WireError,
    agent_of,
    session_key_of,
    validation_error,
)

RATE_LIMITED = "Too many failed authentication attempts. Please try again later."
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def refusal_response(refused: Refusal) -> HttpResponse:
    if refused.status == 429:
        return openai_error(
            429, RATE_LIMITED, type_="rate_limited", Retry_After=str(refused.retry_after_s)
        )
    return openai_error(401, "Unauthorized", type_="unauthorized", code="invalid_api_key")


async def authorized(request: HttpRequest, scope: str) -> HttpResponse | None:
    """None when the caller's gateway token grants ``scope``, else the error answer."""
    caller = await gateway_caller(request, await client_of(request))
    if isinstance(caller, Refusal):
        return refusal_response(caller)
    if not caller.allows(scope):
        return openai_error(403, f"missing scope: {scope}", type_="forbidden")
    return None


def disabled(path: str, setting: str) -> HttpResponse:
    return openai_error(
        404,
        f"{path} is disabled on this gateway; enable it with `manage.py config set "
        f"gateway.http.endpoints.{setting}.enabled true`",
        type_="not_found",
    )


@dataclass(frozen=True)
class Turn:
    """An accepted API request: its run, its model, and the follower of its events."""

    run_id: str
    model: str
    created: int
    follower: RunFollower


R = TypeVar("R", bound=ApiRequest)


def _validated(request: HttpRequest, schema: type[R], max_body: int, field: str) -> R:
    body = schema.model_validate(json_body(request, max_body))
    if not body.prompt():
        raise WireError(f"Missing user message in `{field}`.", param=field)
    return body


async def accept(  # noqa: PLR0911  (one answer per refusal)
    request: HttpRequest, *, max_body: int, schema: type[R], prefix: str, run_prefix: str
) -> tuple[R, Turn] | HttpResponse:
    """Authenticate, read and validate the body, start the turn; or the error answer.

    On success the follower is open (the caller closes it): subscribed before the run
    starts, so no event is missed.
    """
    if request.method != "POST":
        return method_not_allowed("POST")
    refused = await authorized(request, gw_scopes.WRITE)
    if refused is not None:
        return refused
    try:
        body = _validated(request, schema, max_body, "input" if prefix != "openai" else "messages")
        agent = agent_of(body.model, _header(request, "x-openclaw-agent-id", "x-openclaw-agent"))
        key = session_key_of(
            agent=agent,
            header=_header(request, "x-openclaw-session-key"),
            user=body.user,
            prefix=prefix,
        )
    except BodyError as exc:
        return openai_error(exc.status, exc.message)
    except ValidationError as exc:
        err = validation_error(exc)
        return openai_error(400, err.message, param=err.param)
    except WireError as exc:
        return openai_error(400, exc.message, param=exc.param, code=exc.code)
    run_id = f"{run_prefix}_{uuid.uuid4()}"
    turn = Turn(run_id, body.model, int(time.time()), await RunFollower(run_id).open())
    try:
        await db(api_run_start, agent=agent, session_key=key, message=body.prompt(), run_id=run_id)
    except ApiError as exc:
        turn.follower.close()
        return openai_error(400, exc.message, param=exc.param, code=exc.code)
    except BaseException:
        turn.follower.close()
        raise
    return body, turn


def _header(request: HttpRequest, *names: str) -> str | None:
    for name in names:
        value = request.headers.get(name, "").strip()
        if value:
            return value
    return None


def end_error(end: End) -> HttpResponse:
    if end.state == "timeout":
        return openai_error(504, end.error, type_="timeout")
    return openai_error(
        500, end.error or "the agent run failed", type_="api_error", code=end.error_kind or None
    )


def streaming(
    chunks: Callable[[], AsyncIterator[bytes]], follower: RunFollower
) -> StreamingHttpResponse:
    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks():
                yield chunk
        finally:
            follower.close()

    response = StreamingHttpResponse(body(), content_type="text/event-stream; charset=utf-8")
    for name, value in SSE_HEADERS.items():
        response[name] = value
    return response


# --- chat completions -----------------------------------------------------------------------
def _chat_stream(body: ChatCompletionRequest, turn: Turn) -> Callable[[], AsyncIterator[bytes]]:
    with_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunk = functools.partial(
        render.chat_chunk,
        id_=turn.run_id,
        model=turn.model,
        created=turn.created,
        with_usage=with_usage,
    )

    async def chunks() -> AsyncIterator[bytes]:
        yield chunk(delta={"role": "assistant", "content": ""})
        sent = ""
        async for item in turn.follower.events():
            if isinstance(item, Delta):
                sent += item.text
                yield chunk(delta={"content": item.text})
                continue
            if not item.ok:
                yield render.error_event(
                    item.error or "the agent run failed", code=item.error_kind or None
                )
                break
            if item.text and not sent:  # no deltas reached us: the text at once
                yield chunk(delta={"content": item.text})
            yield chunk(delta={}, finish="stop")
            if with_usage:
                yield render.chat_usage_chunk(
                    id_=turn.run_id, model=turn.model, created=turn.created, usage=item.usage
                )
        yield render.DONE

    return chunks


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    settings_ = await http_config.ready()
    if not settings_.chat_completions:
        return disabled("/v1/chat/completions", "chatCompletions")
    accepted = await accept(
        request,
        max_body=settings_.chat_max_body,
        schema=ChatCompletionRequest,
        prefix="openai",
        run_prefix="chatcmpl",
    )
    if isinstance(accepted, HttpResponse):
        return accepted
    body, turn = accepted
    if body.stream:
        return streaming(_chat_stream(body, turn), turn.follower)
    try:
        end = await turn.follower.wait_end()
    finally:
        turn.follower.close()
    if not end.ok:
        return end_error(end)
    return json_response(
        200,
        render.chat_completion(
            id_=turn.run_id, model=turn.model, created=turn.created, text=end.text, usage=end.usage
        ),
    )


# --- models ---------------------------------------------------------------------------------
@csrf_exempt
async def models(request: HttpRequest, model_id: str | None = None) -> HttpResponse:
    """``GET /v1/models`` (the agents as models) and ``GET /v1/models/<id>``."""
    if not (await http_config.ready()).openai_enabled:
        return disabled("/v1/models", "chatCompletions (or responses)")
    if request.method != "GET":
        return method_not_allowed("GET")
    refused = await authorized(request, gw_scopes.READ)
    if refused is not None:
        return refused
    ids = (await db(api_models)).ids
    if model_id is None:
        return json_response(200, {"object": "list", "data": [render.model_object(i) for i in ids]})
    if model_id not in ids:
        return openai_error(
            404, f"The model '{model_id}' does not exist", param="model", code="model_not_found"
        )
    return json_response(200, render.model_object(model_id))
