"""OpenClaw's ``session.dmScope``, ``session.identityLinks`` and ``session.reset``.

Written by ``config set`` / ``config.patch`` (the gateway's config service) and the
admin, read by the inbound path through ``sessions_app.selectors.session_settings()``.
Every bad value is refused with the OpenClaw path, what is wrong and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from sessions_app.lib import keys
from sessions_app.lib import reset as reset_lib
from sessions_app.models import SessionSettings
from sessions_app.selectors import (
    SessionSettingsData,
    session_settings_forget,
    session_settings_of,
)
from sessions_app.services.sessions import SessionError

RESET_KEYS = ("mode", "atHour", "idleMinutes")
_UNSET: Any = object()


class SessionSettingsError(SessionError):
    """A bad session setting; ``field`` is its OpenClaw path (e.g. ``session.dmScope``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class CleanSettings:
    """Validated values; a field left as ``None`` is not being changed."""

    dm_scope: str | None = None
    identity_links: dict[str, list[str]] | None = None
    reset: reset_lib.ResetPolicy | None = None


def _closest(word: str, choices: tuple[str, ...]) -> str:
    found = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {found[0]!r}?" if found else ""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clean_dm_scope(value: Any) -> str:
    if value is None:
        return keys.DM_SCOPES[0]
    allowed = ", ".join(keys.DM_SCOPES)
    if not isinstance(value, str):
        raise SessionSettingsError(
            "session.dmScope", f"takes a string, not {type(value).__name__}; one of {allowed}"
        )
    scope = value.strip().lower()
    if scope not in keys.DM_SCOPES:
        raise SessionSettingsError(
            "session.dmScope",
            f"{value!r} is not one of {allowed}{_closest(scope, keys.DM_SCOPES)}",
        )
    return scope


def _clean_identity_links(value: Any) -> dict[str, list[str]]:
    where = "session.identityLinks"
    example = '{"alice": ["telegram:123456", "discord:987"]}'
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SessionSettingsError(where, f"takes an object of name → list of ids, e.g. {example}")
    links: dict[str, list[str]] = {}
    for raw_name, ids in value.items():
        name = str(raw_name).strip()
        if not name or ":" in name or any(c.isspace() for c in name):
            raise SessionSettingsError(
                where,
                f"name {raw_name!r} becomes part of session keys: use a word without "
                "spaces or ':', e.g. alice",
            )
        if name.lower() in {n.lower() for n in links}:
            raise SessionSettingsError(where, f"name {name!r} is given twice")
        if not isinstance(ids, list):
            raise SessionSettingsError(
                f"{where}.{name}",
                f"takes a list of ids (raw or <channel>:<id>), e.g. {example}",
            )
        cleaned: list[str] = []
        for index, item in enumerate(ids):
            text = str(item).strip() if isinstance(item, str) or _is_int(item) else ""
            if not text:
                raise SessionSettingsError(
                    f"{where}.{name}[{index}]",
                    f"{item!r} is not an id; write a string like 'telegram:123456'",
                )
            cleaned.append(text)
        links[name] = cleaned
    return links


def _clean_reset(value: Any) -> reset_lib.ResetPolicy:
    where = "session.reset"
    if value is None:
        return reset_lib.ResetPolicy()
    if not isinstance(value, Mapping):
        raise SessionSettingsError(
            where,
            'takes an object, e.g. {"mode": "daily", "atHour": 4} or '
            '{"mode": "idle", "idleMinutes": 120}',
        )
    for key in value:
        if key not in RESET_KEYS:
            raise SessionSettingsError(
                f"{where}.{key}",
                f"unknown key; known keys: {', '.join(RESET_KEYS)}{_closest(str(key), RESET_KEYS)}",
            )
    mode = value.get("mode")
    if mode is None:
        mode = reset_lib.DEFAULT_MODE
    if not isinstance(mode, str) or mode.strip().lower() not in reset_lib.RESET_MODES:
        raise SessionSettingsError(
            f"{where}.mode", f"{mode!r} is not one of {', '.join(reset_lib.RESET_MODES)}"
        )
    at_hour = value.get("atHour")
    if at_hour is None:
        at_hour = reset_lib.DEFAULT_AT_HOUR
    if not _is_int(at_hour) or not 0 <= at_hour <= 23:
        raise SessionSettingsError(
            f"{where}.atHour", f"{at_hour!r} is not an hour: use a whole number from 0 to 23"
        )
    idle = value.get("idleMinutes")
    if idle is not None and (not _is_int(idle) or idle < 1):
        raise SessionSettingsError(
            f"{where}.idleMinutes",
            f"{idle!r} is not a number of minutes: use a whole number of at least 1 (or null)",
        )
    return reset_lib.ResetPolicy(mode=mode.strip().lower(), at_hour=at_hour, idle_minutes=idle)


def session_settings_clean(
    *, dm_scope: Any = _UNSET, identity_links: Any = _UNSET, reset: Any = _UNSET
) -> CleanSettings:
    """Validate OpenClaw values (None: back to the default; left out: unchanged).

    Raises ``SessionSettingsError`` naming the path, e.g. ``session.reset.atHour``.
    """
    return CleanSettings(
        dm_scope=None if dm_scope is _UNSET else _clean_dm_scope(dm_scope),
        identity_links=None if identity_links is _UNSET else _clean_identity_links(identity_links),
        reset=None if reset is _UNSET else _clean_reset(reset),
    )


@transaction.atomic
def session_settings_set(
    *, dm_scope: Any = _UNSET, identity_links: Any = _UNSET, reset: Any = _UNSET
) -> SessionSettingsData:
    """Set ``session.dmScope``, ``session.identityLinks`` and/or ``session.reset``.

    Each takes its OpenClaw value: ``dm_scope`` a string, ``identity_links`` an object of
    name → list of ids, ``reset`` the whole ``{mode, atHour, idleMinutes}`` object (keys
    left out take their defaults: daily, 4, none). ``None`` puts one back to its default;
    an argument left out is not changed. Applies to the next inbound message (the cache
    is cleared on commit; other processes see it within a few seconds).
    """
    clean = session_settings_clean(dm_scope=dm_scope, identity_links=identity_links, reset=reset)
    row, _ = SessionSettings.objects.get_or_create(pk=SessionSettings.SINGLETON_PK)
    if clean.dm_scope is not None:
        row.dm_scope = clean.dm_scope
    if clean.identity_links is not None:
        row.identity_links = clean.identity_links
    if clean.reset is not None:
        row.reset_mode = clean.reset.mode
        row.reset_at_hour = clean.reset.at_hour
        row.reset_idle_minutes = clean.reset.idle_minutes
    row.save()
    transaction.on_commit(session_settings_forget)
    return session_settings_of(row)
