"""One-line JSON log records for ``LOG_FORMAT=json``, and the ids every record carries.

What a record is about (the HTTP request, the run and its session) is held in a context
variable that the outer layers set and every layer below inherits without passing it
along: the request middleware (``requestId``), the run loop (``runId``, ``sessionKey``).
``asgiref``'s ``sync_to_async`` copies the context into the thread it runs on, so a
database call made for a request logs its id too. A thread started by hand does not
inherit it (contextvars are per thread unless copied).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

# Attributes every LogRecord has; anything else was passed through ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

_NOTHING: Mapping[str, str] = MappingProxyType({})
_fields: ContextVar[Mapping[str, str]] = ContextVar("openclaw_log_fields", default=_NOTHING)


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add ``fields`` (e.g. ``runId=...``) to every record logged inside the block.

    Nested blocks add to the outer ones; leaving a block restores what was there. Costs
    one dict copy and two context-variable writes: fine per request or run, not per frame.
    """
    token = _fields.set(MappingProxyType({**_fields.get(), **fields}))
    try:
        yield
    finally:
        _fields.reset(token)


def log_fields() -> Mapping[str, str]:
    """The fields of the innermost ``log_context`` around the caller (empty outside)."""
    return _fields.get()


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: ts, level, logger, msg, context ids, extra
    fields, exc. A field passed through ``extra=`` wins over the context's."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        # Formatted on the thread that logged (StreamHandler and the ring buffer format
        # in emit), so the context read here is the logger's.
        payload.update(_fields.get())
        payload.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        )
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)
