"""LOG_FORMAT=json writes one JSON object per record, extras included, secrets not added."""

from __future__ import annotations

import json
import logging

from core.logging import JsonFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "gateway.test", logging.INFO, __file__, 1, "run %s done", ("r1",), None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_it_formats_one_json_object_per_line() -> None:
    line = JsonFormatter().format(_record(run_id="r1", session_id=7))
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["level"] == "info"
    assert payload["logger"] == "gateway.test"
    assert payload["msg"] == "run r1 done"
    assert payload["run_id"] == "r1"
    assert payload["session_id"] == 7
    assert payload["ts"].endswith("+00:00")


def test_it_includes_the_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    payload = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in payload["exc"]


def test_unserialisable_extras_become_strings() -> None:
    payload = json.loads(JsonFormatter().format(_record(obj=object())))
    assert payload["obj"].startswith("<object object")
