"""The control endpoint: the test-side API over HTTP, for a fake in another process.

``/_fake/<action>`` takes its arguments as a JSON object body and/or a query string
(GET ``/_fake/sent?token=...``) and answers JSON. A bad request gets 400 with
``{"ok": false, "error": "<what is wrong>"}``, a ``wait`` that times out 408, an unknown
action 404. Actions (named like the in-process methods they call):

=================  ============================================================
``health``         ``{"ok": true, "fake": "telegram"}``
``bot``            add_bot: token, username, id, first_name, strict_chats
``chat``           add_chat: token, chat_id, chat_type, title, is_forum, ...
``file``           add_file: token, file_id, data_base64, file_path
``push``           push_message: token and its keyword arguments → the Update
``push-update``    push_update: token, update, filtered → the Update
``push-batch``     push_batch: token, messages (a list of push keyword dicts)
``fail``           fail: method, status, count, retry_after, description, token, raw_body
``hang``           hang: method, seconds, count
``held``           ``{"held": n}`` for method
``sent``           sent_messages: token, chat_id
``edits``          edits: token
``chat-actions``   chat_actions: token
``calls``          calls: token, method
``wait``           wait_for: token, count, timeout → the sent messages
``webhook``        ``{"webhook": webhook_of(token)}``
``confirmed``      ``{"offset": confirmed_offset(token)}``
``pending``        ``{"pending": pending_updates(token)}``
``webhook-post``   post_to_webhook: token, update, secret → ``{"status", "body"}``
``webhook-deliver`` deliver_to_webhook: token → ``{"statuses": [...]}``
``reset``          reset
=================  ============================================================
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.telegram.server import FakeTelegramServer

Args = dict[str, Any]


def _need(args: Args, name: str) -> Any:
    if args.get(name) in (None, ""):
        raise ValueError(f"this control request needs {name!r}")
    return args[name]


def _number(args: Args, name: str, default: float) -> float:
    value = args.get(name, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name!r} must be a number, not {value!r}") from None


def _ok() -> Args:
    return {"ok": True}


def _add_file(fake: FakeTelegramServer, args: Args) -> Args:
    try:
        data = base64.b64decode(_need(args, "data_base64"), validate=True)
    except (binascii.Error, TypeError):
        raise ValueError("'data_base64' must be the file's bytes in base64") from None
    path = fake.add_file(
        _need(args, "token"), str(_need(args, "file_id")), data, file_path=args.get("file_path")
    )
    return {"file_path": path}


def _push(fake: FakeTelegramServer, args: Args) -> Any:
    fields = {k: v for k, v in args.items() if k != "token"}
    return fake.push_message(_need(args, "token"), **fields)


def _fail(fake: FakeTelegramServer, args: Args) -> Args:
    known = {"method", "status", "count", "retry_after", "description", "token", "raw_body"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise ValueError(f"fail takes {', '.join(sorted(known))}; not {', '.join(unknown)}")
    fake.fail(
        _need(args, "method"),
        int(_need(args, "status")),
        int(args.get("count", 1)),
        args.get("retry_after"),
        args.get("description"),
        token=args.get("token"),
        raw_body=args.get("raw_body"),
    )
    return _ok()


def _hang(fake: FakeTelegramServer, args: Args) -> Args:
    fake.hang(_need(args, "method"), _number(args, "seconds", 0), int(args.get("count", 1)))
    return _ok()


def _reset(fake: FakeTelegramServer, args: Args) -> Args:
    fake.reset()
    return _ok()


def _post(fake: FakeTelegramServer, args: Args) -> Args:
    status, body = fake.post_to_webhook(
        _need(args, "token"), _need(args, "update"), secret=args.get("secret")
    )
    return {"status": status, "body": body.decode("utf-8", "replace")}


Route = Callable[["FakeTelegramServer", Args], Any]
ROUTES: dict[str, Route] = {
    "health": lambda fake, args: {"ok": True, "fake": "telegram"},
    "bot": lambda fake, args: fake.add_bot(
        _need(args, "token"),
        username=args.get("username", "testbot"),
        id=args.get("id"),
        first_name=args.get("first_name", "Test Bot"),
        strict_chats=bool(args.get("strict_chats", False)),
    ),
    "chat": lambda fake, args: fake.add_chat(
        _need(args, "token"),
        _need(args, "chat_id"),
        **{k: v for k, v in args.items() if k not in ("token", "chat_id")},
    ),
    "file": _add_file,
    "push": _push,
    "push-update": lambda fake, args: fake.push_update(
        _need(args, "token"), _need(args, "update"), filtered=bool(args.get("filtered"))
    ),
    "push-batch": lambda fake, args: fake.push_batch(_need(args, "token"), _need(args, "messages")),
    "fail": _fail,
    "hang": _hang,
    "held": lambda fake, args: {"held": fake.held(_need(args, "method"))},
    "sent": lambda fake, args: fake.sent_messages(_need(args, "token"), args.get("chat_id")),
    "edits": lambda fake, args: fake.edits(_need(args, "token")),
    "chat-actions": lambda fake, args: fake.chat_actions(_need(args, "token")),
    "calls": lambda fake, args: fake.calls(_need(args, "token"), args.get("method")),
    "wait": lambda fake, args: fake.wait_for(
        _need(args, "token"),
        int(_need(args, "count")),
        timeout=_number(args, "timeout", 30),
    ),
    "webhook": lambda fake, args: {"webhook": fake.webhook_of(_need(args, "token"))},
    "confirmed": lambda fake, args: {"offset": fake.confirmed_offset(_need(args, "token"))},
    "pending": lambda fake, args: {"pending": fake.pending_updates(_need(args, "token"))},
    "webhook-post": _post,
    "webhook-deliver": lambda fake, args: {
        "statuses": fake.deliver_to_webhook(_need(args, "token"))
    },
    "reset": _reset,
}


def dispatch(
    fake: FakeTelegramServer, verb: str, action: str, body: bytes, query: str
) -> tuple[int, Any]:
    """Run one control request; return the HTTP status and the JSON answer."""
    route = ROUTES.get(action)
    if route is None:
        return 404, {
            "ok": False,
            "error": f"no control action {action!r}; use one of {', '.join(ROUTES)}",
        }
    try:
        data = json.loads(body) if body else {}
        if not isinstance(data, dict):
            raise ValueError("the control request body must be a JSON object")
        args = {**dict(urllib.parse.parse_qsl(query)), **data}
        return 200, route(fake, args)
    except AssertionError as exc:  # wait timed out
        return 408, {"ok": False, "error": str(exc)}
    except (ValueError, TypeError, LookupError) as exc:
        return 400, {"ok": False, "error": f"{verb} /_fake/{action}: {exc}"}
