"""The OpenResponses endpoint: ``POST /v1/responses`` (OpenClaw's ``openresponses-http.ts``).

Off by default (404); ``config set gateway.http.endpoints.responses.enabled true``. Same
auth, agent and session rules as chat completions (``openai.py``), session prefix
``openresponses``, response ids ``resp_<uuid>``. Without ``stream`` the answer is a
``response`` object; with it, the Responses API event stream: ``response.created``,
``response.in_progress``, ``response.output_item.added``, ``response.content_part.added``,
``response.output_text.delta``…, ``response.output_text.done``,
``response.content_part.done``, ``response.output_item.done``, then
``response.completed`` (``response.failed`` when the run failed), each with its
``sequence_number``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from gateway import http_config
from gateway.http.common import json_response
from gateway.http.follow import Delta, End
from gateway.http.openai import Turn, accept, disabled, end_error, streaming
from gateway.lib import openai_render as render
from gateway.lib.openai_wire import ResponsesRequest


def _final(body: ResponsesRequest, turn: Turn, end: End, item_id: str) -> dict[str, Any]:
    failed = not end.ok
    return render.response_object(
        id_=turn.run_id,
        model=turn.model,
        created=turn.created,
        status="failed" if failed else "completed",
        output=[] if failed else [render.output_message(id_=item_id, text=end.text)],
        usage=end.usage,
        error={"code": end.error_kind or "api_error", "message": end.error} if failed else None,
        instructions=body.instructions,
        user=body.user,
    )


def _stream(body: ResponsesRequest, turn: Turn, item_id: str) -> Callable[[], AsyncIterator[bytes]]:
    async def chunks() -> AsyncIterator[bytes]:
        started = render.response_object(
            id_=turn.run_id,
            model=turn.model,
            created=turn.created,
            status="in_progress",
            output=[],
            instructions=body.instructions,
            user=body.user,
        )
        events = render.ResponseEvents(response=started, item_id=item_id)
        for chunk in events.start():
            yield chunk
        async for item in turn.follower.events():
            if isinstance(item, Delta):
                yield events.delta(item.text)
                continue
            if item.ok and item.text and not events.text:  # no deltas reached us
                yield events.delta(item.text)
            final = _final(body, turn, item, item_id)
            for chunk in events.finish(final=final):
                yield chunk

    return chunks


@csrf_exempt
async def responses(request: HttpRequest) -> HttpResponseBase:
    settings_ = await http_config.ready()
    if not settings_.responses:
        return disabled("/v1/responses", "responses")
    accepted = await accept(
        request,
        max_body=settings_.responses_max_body,
        schema=ResponsesRequest,
        prefix="openresponses",
        run_prefix="resp",
    )
    if isinstance(accepted, HttpResponse):
        return accepted
    body, turn = accepted
    item_id = f"msg_{uuid.uuid4()}"
    if body.stream:
        return streaming(_stream(body, turn, item_id), turn.follower)
    try:
        end = await turn.follower.wait_end()
    finally:
        turn.follower.close()
    if end.state == "timeout":
        return end_error(end)
    final = _final(body, turn, end, item_id)
    return json_response(500 if final["status"] == "failed" else 200, final)
