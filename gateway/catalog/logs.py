"""``logs.tail``'s lines as OpenClaw writes its log file: one JSON object per line.

OpenClaw logs with tslog, and its Control UI parses each line as JSON: ``"0"`` the
subsystem (itself a JSON string ``{"subsystem": …}``), ``"1"`` the message, ``_meta``
the level name and date, ``time`` the instant (``ui/src/ui/controllers/logs.ts``). The
buffer here holds the console's lines (``core/logbuffer.py``), plain or JSON by
``LOG_FORMAT``; each is reshaped on the way out. A line that is neither (a traceback's
continuation) becomes ``{"message": …}`` carrying the time and level of the record
above it.
"""

from __future__ import annotations

import json
import re
from typing import Any

# settings.LOGGING's "plain" formatter: "%(asctime)s %(levelname)s %(name)s: %(message)s".
_PLAIN = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<level>[A-Z]+) (?P<name>[^\s:]+): "
    r"(?P<message>.*)$"
)
# tslog's level names (the UI lowercases them): Python's WARNING and CRITICAL differ.
_LEVELS = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def _record(*, time: str | None, level: str | None, name: str, message: str) -> dict[str, Any]:
    subsystem = json.dumps({"subsystem": name}, separators=(",", ":"))
    level_name = _LEVELS.get(level.upper(), level.upper()) if level else None
    return {
        "0": subsystem,
        "1": message,
        "_meta": {"logLevelName": level_name, "date": time, "name": subsystem},
        "time": time,
    }


def _parse(line: str) -> dict[str, Any] | None:
    match = _PLAIN.match(line)
    if match is not None:
        time = match["time"].replace(" ", "T").replace(",", ".")
        return _record(
            time=time, level=match["level"], name=match["name"], message=match["message"]
        )
    if line.startswith("{"):  # LOG_FORMAT=json (core.logging.JsonFormatter)
        try:
            data = json.loads(line)
        except ValueError:
            return None
        if isinstance(data, dict) and "msg" in data:
            message = str(data["msg"])
            if data.get("exc"):
                message = f"{message}\n{data['exc']}"
            return _record(
                time=str(data.get("ts") or "") or None,
                level=str(data.get("level") or "") or None,
                name=str(data.get("logger") or "root"),
                message=message,
            )
    return None


def jsonl_lines(lines: list[str]) -> list[str]:
    """Return ``lines`` as OpenClaw log-file lines (one compact JSON object each)."""
    out: list[str] = []
    time: str | None = None
    level: str | None = None
    for line in lines:
        record = _parse(line)
        if record is None:
            record = {"time": time, "_meta": {"logLevelName": level, "date": time}, "message": line}
        else:
            time, level = record["time"], record["_meta"]["logLevelName"]
        out.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    return out
