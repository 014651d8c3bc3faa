"""The Bot API's wire format: request parameters in, ``{"ok": ...}`` bodies out.

python-telegram-bot 22 (``HTTPXRequest``) POSTs every method as
``application/x-www-form-urlencoded`` (``multipart/form-data`` when it uploads a file), with
objects and lists JSON-encoded in the field (``reply_parameters={"message_id": 3}``) and
numbers as strings; other clients send ``application/json`` or a GET query string. All
four are read here into one dict, with the object-valued fields decoded.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

MAX_TEXT = 4096
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")
TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot "
    "instance is running"
)
CONFLICT_SET_WEBHOOK = "Conflict: terminated by setWebhook request"
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)
# What Telegram says for a status when the test scripts a failure without a description.
DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: CONFLICT_POLL,
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# Parameters whose value is a JSON object or list (sent as JSON text in a form field).
JSON_FIELDS = frozenset(
    {"reply_parameters", "link_preview_options", "allowed_updates", "reply_markup",
     "entities", "caption_entities", "media", "commands", "scope", "reaction"}
)  # fmt: skip
METHODS = (
    "getMe", "getUpdates", "sendMessage", "editMessageText", "sendChatAction",
    "setWebhook", "deleteWebhook", "getWebhookInfo", "getFile",
)  # fmt: skip
CANONICAL = {name.lower(): name for name in METHODS}


class ApiError(Exception):
    """A Bot API error: ``{"ok": false, "error_code": status, "description": ...}``.

    ``retry_after`` adds ``parameters.retry_after`` (429); ``raw_body`` replaces the JSON
    body (a proxy's HTML error page, as Telegram's front end sends on some 502s).
    """

    def __init__(
        self,
        status: int,
        description: str,
        *,
        retry_after: float | None = None,
        raw_body: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.raw_body = raw_body

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            error["parameters"] = {"retry_after": math.ceil(self.retry_after)}
        return error


def canonical(method: str) -> str:
    """``sendmessage`` → ``sendMessage`` (Telegram's method names are case-insensitive)."""
    return CANONICAL.get(method.lower(), method)


def parse_params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    """The call's parameters from the query string and the body, whatever its encoding."""
    params: dict[str, Any] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";", 1)[0].strip().lower()
    if body:
        if kind == "application/json":
            params.update(_json_object(body))
        elif kind == "multipart/form-data":
            params.update(_multipart(content_type, body))
        else:  # urlencoded (or no Content-Type, which Telegram reads the same way)
            text = body.decode("utf-8", "replace")
            params.update(urllib.parse.parse_qsl(text, keep_blank_values=True))
    for name in JSON_FIELDS & params.keys():
        if isinstance(params[name], str):
            try:
                params[name] = json.loads(params[name])
            except ValueError:
                raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    return params


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiError(400, "Bad Request: can't parse JSON encoded request body") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Bad Request: the JSON request body must be an object")
    return data


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        raw = part.get_payload(decode=True)
        data = raw if isinstance(raw, bytes) else b""
        filename = part.get_filename()
        if filename is not None:  # an upload: its name and size, not its bytes
            fields[name] = {"filename": filename, "size": len(data)}
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields


def int_param(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    """An integer parameter (form values are strings), ``default`` when absent or blank."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ApiError(400, f'Bad Request: field "{name}" must be a number')
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f'Bad Request: field "{name}" must be a number') from None


def float_param(params: dict[str, Any], name: str, default: float) -> float:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f'Bad Request: field "{name}" must be a number') from None
    if not math.isfinite(number):
        raise ApiError(400, f'Bad Request: field "{name}" must be a number')
    return number


def bool_param(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def chat_ref(value: Any) -> int | str:
    """A chat id as Telegram takes it: a number, or ``@channelusername``."""
    if value is None or value == "":
        raise ApiError(400, "Bad Request: chat_id is empty")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if text.startswith("@") and len(text) > 1:
        return text
    raise ApiError(400, "Bad Request: chat not found")


def ok_body(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}
