"""python-telegram-bot from blocking code: one event loop per thread, a Bot per token on it.

PTB is asyncio; the connector is called from Celery worker threads, several at once.
Each thread keeps one long-lived event loop (thread-local) and, on it, one ``Bot`` per
(token, API root), created on first use and kept, so its HTTP connections are reused
from one call to the next; a Bot (and its httpx clients) is never shared across loops or
threads. Each Bot has two request objects: getUpdates (the long poll) on its own, every
other call on the other. Every call is bounded: httpx timeouts on each request, and an
overall ``asyncio.wait_for`` around the call.

Every error leaves as a ``ConnectorError`` (``to_connector_error``), with the token
scrubbed from its text.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import httpx
from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from channels_app.connectors.base import AccountConfig, ConnectorError

T = TypeVar("T")

DEFAULT_API_ROOT = "https://api.telegram.org"
CONNECT_TIMEOUT_S = 10.0
IO_TIMEOUT_S = 20.0  # read/write of one non-poll request
POLL_SLACK_S = 10.0  # a long poll may take its timeout plus this before it is abandoned
CALL_TIMEOUT_S = 45.0  # the whole of one non-poll call, whatever httpx does
MAX_BOTS_PER_THREAD = 16  # tokens rotated away are shut down after this many others

# A message about the token, not one:
TOKEN_REJECTED = (
    "Telegram rejected the bot token (401 Unauthorized); check channels.telegram.botToken"  # noqa: S105
)


@dataclass
class _Client:
    bot: Bot
    requests: tuple[HTTPXRequest, HTTPXRequest]


class _ThreadState(threading.local):
    def __init__(self) -> None:
        self.pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.clients: OrderedDict[tuple[str, str], _Client] = OrderedDict()
        self.http: httpx.AsyncClient | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """This thread's loop, made on first use (and again after ``close``)."""
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None


_local = _ThreadState()


def _state() -> _ThreadState:
    global _local  # noqa: PLW0603  (a forked child starts over: its parent's sockets are not its own)
    if _local.pid != os.getpid():
        _local = _ThreadState()
    return _local


def api_root(account: AccountConfig) -> str:
    return (account.api_root or DEFAULT_API_ROOT).rstrip("/")


def token_of(account: AccountConfig) -> str:
    token = account.credentials.get("botToken")
    if not isinstance(token, str) or not token.strip():
        raise ConnectorError(
            f"no bot token is configured for Telegram account {account.account_id!r}; "
            "set channels.telegram.botToken",
            permanent=True,
        )
    return token.strip()


def _new_client(token: str, root: str) -> _Client:
    def request(pool: int, read: float) -> HTTPXRequest:
        return HTTPXRequest(
            connection_pool_size=pool,
            read_timeout=read,
            write_timeout=IO_TIMEOUT_S,
            connect_timeout=CONNECT_TIMEOUT_S,
            pool_timeout=5.0,
            media_write_timeout=IO_TIMEOUT_S,
        )

    # getUpdates adds its long-poll timeout to this read timeout (PTB's get_updates).
    polls, calls = request(1, POLL_SLACK_S), request(4, IO_TIMEOUT_S)
    bot = Bot(
        token,
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
        request=calls,
        get_updates_request=polls,
    )
    return _Client(bot=bot, requests=(polls, calls))


def _client(state: _ThreadState, token: str, root: str) -> _Client:
    key = (token, root)
    client = state.clients.get(key)
    if client is None:
        client = state.clients[key] = _new_client(token, root)
        while len(state.clients) > MAX_BOTS_PER_THREAD:
            _, old = state.clients.popitem(last=False)
            state.loop.run_until_complete(_shutdown(old))
    state.clients.move_to_end(key)
    return client


async def _shutdown(client: _Client) -> None:
    await asyncio.gather(*(r.shutdown() for r in client.requests), return_exceptions=True)


def run(
    account: AccountConfig,
    call: Callable[[Bot], Awaitable[T]],
    *,
    action: str,
    timeout_s: float = CALL_TIMEOUT_S,
) -> T:
    """Run ``call(bot)`` on this thread's loop with the account's Bot; any failure is a
    ``ConnectorError`` naming ``action`` (the error's cause is PTB's exception)."""
    token = token_of(account)
    state = _state()
    client = _client(state, token, api_root(account))
    try:
        return state.loop.run_until_complete(asyncio.wait_for(call(client.bot), timeout_s))
    except ConnectorError:
        raise
    except Exception as exc:
        raise to_connector_error(exc, action=action, token=token) from exc


def http(state: _ThreadState | None = None) -> httpx.AsyncClient:
    """This thread's plain HTTP client (file downloads), on this thread's loop."""
    state = state or _state()
    if state.http is None or state.http.is_closed:
        state.http = httpx.AsyncClient(
            timeout=httpx.Timeout(IO_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=4),
        )
    return state.http


def run_plain(
    account: AccountConfig, call: Callable[[httpx.AsyncClient], Awaitable[T]], *, action: str
) -> T:
    """Like ``run`` with this thread's plain HTTP client instead of a Bot."""
    token = token_of(account)
    state = _state()
    try:
        return state.loop.run_until_complete(asyncio.wait_for(call(http(state)), CALL_TIMEOUT_S))
    except ConnectorError:
        raise
    except Exception as exc:
        raise to_connector_error(exc, action=action, token=token) from exc


def close_thread_clients() -> None:
    """Shut down this thread's Bots and HTTP client and close its loop (tests, shutdown)."""
    state = _state()
    while state.clients:
        _, client = state.clients.popitem()
        state.loop.run_until_complete(_shutdown(client))
    if state.http is not None:
        state.loop.run_until_complete(state.http.aclose())
        state.http = None
    state.close()


def retry_after_s(exc: RetryAfter) -> float:
    # The public ``retry_after`` warns in PTB 22 unless PTB_TIMEDELTA is set; the
    # timedelta it is built from is what we want.
    value = getattr(exc, "_retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value or 1)


def to_connector_error(exc: BaseException, *, action: str, token: str = "") -> ConnectorError:
    """PTB's (or asyncio's, httpx's) exception as a ``ConnectorError``, token scrubbed."""
    what = (str(exc).replace(token, "<token>") if token else str(exc)) or type(exc).__name__
    for kinds, build in _ERRORS:
        if isinstance(exc, kinds):
            return build(exc, action, what)
    return ConnectorError(f"Telegram {action} failed unexpectedly: {type(exc).__name__}: {what}")


def _flood(exc: BaseException, action: str, what: str) -> ConnectorError:
    seconds = retry_after_s(exc) if isinstance(exc, RetryAfter) else 1.0
    return ConnectorError(
        f"Telegram {action}: flood control, retry in {seconds:g} s", retry_after=seconds
    )


def _token(exc: BaseException, action: str, what: str) -> ConnectorError:
    if "not found" in what.lower():  # 404: a malformed token, or a wrong API root
        return ConnectorError(
            "Telegram answered 404 Not Found: the bot token is malformed or the API root is "
            "wrong; check channels.telegram.botToken and apiRoot",
            permanent=True,
        )
    return ConnectorError(TOKEN_REJECTED, permanent=True)


def _forbidden(exc: BaseException, action: str, what: str) -> ConnectorError:
    return ConnectorError(
        f"Telegram {action} refused (403 Forbidden: {what}); the bot was blocked by the user "
        "or removed from the chat",
        permanent=True,
    )


def _migrated(exc: BaseException, action: str, what: str) -> ConnectorError:
    new_id = exc.new_chat_id if isinstance(exc, ChatMigrated) else "?"
    return ConnectorError(
        f"Telegram {action}: the group became a supergroup with chat id {new_id}; "
        "messages must go there",
        permanent=True,
    )


def _conflict(exc: BaseException, action: str, what: str) -> ConnectorError:
    return ConnectorError(
        f"Telegram {action}: 409 Conflict ({what}); another poller or a webhook is active "
        "for this bot: stop the other poller, or delete the webhook to poll"
    )


def _bad_request(exc: BaseException, action: str, what: str) -> ConnectorError:
    return ConnectorError(f"Telegram {action} rejected (400 Bad Request: {what})", permanent=True)


def _timeout(exc: BaseException, action: str, what: str) -> ConnectorError:
    return ConnectorError(f"Telegram {action} timed out")


def _failed(exc: BaseException, action: str, what: str) -> ConnectorError:
    return ConnectorError(f"Telegram {action} failed: {what}")


# Most specific first: PTB's TimedOut is a NetworkError, its InvalidToken a TelegramError.
_ERRORS: tuple[
    tuple[
        type[BaseException] | tuple[type[BaseException], ...],
        Callable[[BaseException, str, str], ConnectorError],
    ],
    ...,
] = (
    (RetryAfter, _flood),
    (InvalidToken, _token),
    (Forbidden, _forbidden),
    (ChatMigrated, _migrated),
    (Conflict, _conflict),
    (BadRequest, _bad_request),
    ((TimeoutError, TimedOut, httpx.TimeoutException), _timeout),
    ((NetworkError, httpx.HTTPError, OSError, TelegramError), _failed),
)
