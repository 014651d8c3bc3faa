"""What the catalog's payloads share: time formats, constants, the runtime version."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

STORE_PATH = "database"
# Names this process to clients (mentions.list, system.info); new on every start.
INSTANCE_ID = str(uuid.uuid4())
# Thinking levels are not configurable yet; OpenClaw's minimal answer for a model without.
THINKING_LEVELS: tuple[dict[str, str], ...] = ({"id": "off", "label": "off"},)


def ms(value: datetime | None) -> int | None:
    """Epoch milliseconds of an aware datetime (None stays None)."""
    return int(value.timestamp() * 1000) if value is not None else None


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a ``Z`` (None stays None)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def thinking() -> dict[str, Any]:
    """The thinking fields of an agent or of chat defaults (only ``off`` for now)."""
    return {
        "thinkingLevels": [dict(level) for level in THINKING_LEVELS],
        "thinkingOptions": [level["id"] for level in THINKING_LEVELS],
        "thinkingDefault": "off",
    }


def runtime_version() -> str:
    try:
        return metadata.version("openclaw-django")
    except metadata.PackageNotFoundError:
        return "0.0.0"
