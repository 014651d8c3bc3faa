"""Heartbeat rules, as OpenClaw has them (reference spec §8.9; pure, no Django).

A heartbeat is a periodic turn in an agent's main session that reads ``HEARTBEAT.md``
and answers ``HEARTBEAT_OK`` when nothing needs attention. OpenClaw 2026.9 runs it as a
system-owned cron job per agent (``heartbeat-<agent>``, declaration ``heartbeat:<agent>``,
``every`` on a phase fixed per agent); this module holds what that needs and can be
tested without a database:

- ``HeartbeatConfig.parse``: one ``heartbeat`` block (``agents.defaults.heartbeat`` or
  ``agents.list[].heartbeat``) checked, with the error a person can act on;
- ``heartbeat_agents``: which agents run one (OpenClaw's ``resolveHeartbeatAgents``);
- ``parse_every``: ``"30m"`` → ms, ``"0m"`` → None (off);
- ``within_active_hours``: ``activeHours {start, end, timezone}`` (start inclusive, end
  exclusive, ``24:00`` as an end, overnight windows, start == end never active);
- ``strip_heartbeat_token``: the acknowledgement rule (``HEARTBEAT_OK`` at the start or
  end, markup around it ignored; what is left within ``ackMaxChars`` is dropped too);
- ``effectively_empty``: a ``HEARTBEAT.md`` of headers, empty list items and comments
  only skips the turn without calling the model;
- ``phase_ms``: the fixed offset of an agent's slots inside the interval.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents.lib.prompt import HEARTBEAT_TOKEN

DEFAULT_EVERY = "30m"
DEFAULT_ACK_MAX_CHARS = 300
# A heartbeat is a model turn: not more often than a minute, not rarer than a year.
MIN_EVERY_MS = 60_000
MAX_EVERY_MS = 365 * 86_400_000
# OpenClaw's HEARTBEAT_PROMPT (src/auto-reply/heartbeat.ts) before its "monitor scratch".
DEFAULT_PROMPT = (
    "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. Do not infer "
    "or repeat old tasks from prior chats. If nothing needs attention, reply HEARTBEAT_OK."
)
TARGET_NONE = "none"
TARGET_LAST = "last"
KEYS = (
    "every",
    "target",
    "to",
    "accountId",
    "prompt",
    "ackMaxChars",
    "activeHours",
    "model",
    "agentId",
)
ACTIVE_HOURS_KEYS = ("start", "end", "timezone")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_HHMM = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|24:00)$")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HEADER = re.compile(r"^#+(\s|$)")
_EMPTY_ITEM = re.compile(r"^[-*+]\s*(\[[\sXx]?\]\s*)?$")
_TAG = re.compile(r"<[^>]*>")
_EDGE_MARKUP = re.compile(r"^[*`~_]+|[*`~_]+$")
_TRAILING_TOKEN = re.compile(re.escape(HEARTBEAT_TOKEN) + r"[^\w]{0,4}$")


class HeartbeatConfigError(ValueError):
    """A heartbeat block that cannot be used; the message says what to write instead."""


def parse_every(value: Any) -> int | None:
    """``"30m"`` → 1 800 000; a bare number is minutes; ``"0m"`` (or ≤ 0) → None, off.

    Raises ``HeartbeatConfigError`` for text that is not a duration.
    """
    if isinstance(value, bool):
        raise HeartbeatConfigError("heartbeat.every takes a duration such as '30m', '1h' or '0m'")
    if isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip().lower()
    else:
        raise HeartbeatConfigError("heartbeat.every takes a duration such as '30m', '1h' or '0m'")
    match = _DURATION.match(text)
    if match is None:
        raise HeartbeatConfigError(
            f"heartbeat.every {value!r} is not a duration; write e.g. '30m', '2h' or '0m' (off)"
        )
    total = float(match.group(1)) * _UNIT_MS[match.group(2) or "m"]
    if total <= 0:
        return None
    if not MIN_EVERY_MS <= total <= MAX_EVERY_MS:
        raise HeartbeatConfigError(
            f"heartbeat.every {value!r} is out of range; use from '1m' to '365d', or '0m' to "
            "turn heartbeats off"
        )
    return int(total)


def format_every(every_ms: int) -> str:
    """1 800 000 → ``"30m"`` (the largest unit that divides it)."""
    for unit in ("d", "h", "m", "s"):
        if every_ms % _UNIT_MS[unit] == 0:
            return f"{every_ms // _UNIT_MS[unit]}{unit}"
    return f"{every_ms}ms"


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class ActiveHours:
    start: str
    end: str
    timezone: str = ""

    def zone(self, user_timezone: str) -> ZoneInfo:
        """The zone of the window: an IANA name, ``local``, or ``user`` (the default)."""
        name = self.timezone
        if name in ("", "user", "local"):  # the gateway's zone (OPENCLAW_TIMEZONE)
            name = user_timezone or "UTC"
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def contains(self, moment: datetime, *, user_timezone: str = "") -> bool:
        start, end = _minutes(self.start), _minutes(self.end)
        if start == end:
            return False
        local = moment.astimezone(self.zone(user_timezone))
        now = local.hour * 60 + local.minute
        if end > start:
            return start <= now < end
        return now >= start or now < end  # overnight, e.g. 22:00 to 06:00


def _active_hours(value: Any) -> ActiveHours | None:
    if value is None:
        return None
    example = "{start: '08:00', end: '22:00', timezone: 'Europe/Berlin'}"
    if not isinstance(value, Mapping):
        raise HeartbeatConfigError(f"heartbeat.activeHours takes an object, e.g. {example}")
    unknown = sorted(set(value) - set(ACTIVE_HOURS_KEYS))
    if unknown:
        raise HeartbeatConfigError(
            f"heartbeat.activeHours has no key {unknown[0]!r}; it takes start, end and timezone"
        )
    start, end = value.get("start"), value.get("end")
    for name, text in (("start", start), ("end", end)):
        if not isinstance(text, str) or not _HHMM.match(text.strip()):
            raise HeartbeatConfigError(
                f"heartbeat.activeHours.{name} must be a time HH:MM (00:00 to 23:59"
                f"{', or 24:00' if name == 'end' else ''}), e.g. {example}"
            )
    assert isinstance(start, str)
    assert isinstance(end, str)
    if start.strip() == "24:00":
        raise HeartbeatConfigError("heartbeat.activeHours.start cannot be 24:00; use 00:00")
    tz = value.get("timezone") or ""
    if not isinstance(tz, str):
        raise HeartbeatConfigError("heartbeat.activeHours.timezone takes an IANA zone name")
    tz = tz.strip()
    if tz not in ("", "user", "local"):
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise HeartbeatConfigError(
                f"heartbeat.activeHours.timezone {tz!r} is not a time zone; use an IANA name "
                "such as 'Europe/Berlin', or 'user' or 'local'"
            ) from None
    return ActiveHours(start=start.strip(), end=end.strip(), timezone=tz)


def _text(block: Mapping[str, Any], key: str, *, example: str) -> str:
    value = block.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise HeartbeatConfigError(f"heartbeat.{key} takes a string, e.g. {example}")
    return value.strip()


@dataclass(frozen=True)
class HeartbeatConfig:
    """One agent's effective heartbeat: the defaults block merged under its own."""

    every_ms: int | None = 30 * 60_000
    every: str = DEFAULT_EVERY
    target: str = TARGET_NONE
    to: str = ""
    account_id: str = ""
    prompt: str = ""
    ack_max_chars: int = DEFAULT_ACK_MAX_CHARS
    active_hours: ActiveHours | None = None
    model: str = ""
    agent_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def enabled(self) -> bool:
        return self.every_ms is not None

    @property
    def effective_prompt(self) -> str:
        return self.prompt or DEFAULT_PROMPT

    @classmethod
    def parse(cls, *blocks: Mapping[str, Any] | None) -> HeartbeatConfig:
        """Merge the blocks (later wins, key by key) and check the result.

        Raises ``HeartbeatConfigError`` naming the key and what it takes.
        """
        merged: dict[str, Any] = {}
        for block in blocks:
            if block is None:
                continue
            if not isinstance(block, Mapping):
                raise HeartbeatConfigError(
                    "heartbeat takes an object, e.g. {every: '30m', target: 'last'}"
                )
            unknown = sorted(set(block) - set(KEYS))
            if unknown:
                raise HeartbeatConfigError(
                    f"heartbeat has no key {unknown[0]!r}; it takes {', '.join(KEYS)}"
                )
            merged.update({k: v for k, v in block.items() if v is not None})
        every_text = merged.get("every", DEFAULT_EVERY)
        every_ms = parse_every(every_text)
        ack = merged.get("ackMaxChars", DEFAULT_ACK_MAX_CHARS)
        if isinstance(ack, bool) or not isinstance(ack, int) or ack < 0:
            raise HeartbeatConfigError("heartbeat.ackMaxChars takes a whole number ≥ 0, e.g. 300")
        target = _text(merged, "target", example="'none', 'last' or 'telegram'") or TARGET_NONE
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", target.lower()):
            raise HeartbeatConfigError(
                f"heartbeat.target {target!r} is not a target; use 'none', 'last' or a channel "
                "such as 'telegram' (with heartbeat.to)"
            )
        model = _text(merged, "model", example="'openai/gpt-4o-mini'")
        provider, _, name = model.partition("/")
        if model and not (provider.strip() and name.strip()):
            raise HeartbeatConfigError(
                f"heartbeat.model {model!r} is not provider/model, e.g. 'openai/gpt-4o-mini'"
            )
        return cls(
            every_ms=every_ms,
            every=str(every_text).strip() if every_ms is not None else "disabled",
            target=target.lower(),
            to=_text(merged, "to", example="'12345'"),
            account_id=_text(merged, "accountId", example="'default'"),
            prompt=_text(merged, "prompt", example="'Check the inbox.'"),
            ack_max_chars=ack,
            active_hours=_active_hours(merged.get("activeHours")),
            model=model,
            agent_id=_text(merged, "agentId", example="'main'").lower(),
            raw=merged,
        )

    def summary(self) -> dict[str, Any]:
        """OpenClaw's ``HeartbeatSummary`` (health's ``agents[].heartbeat``)."""
        out: dict[str, Any] = {
            "enabled": self.enabled,
            "every": self.every,
            "everyMs": self.every_ms,
            "prompt": self.effective_prompt,
            "target": self.target,
            "ackMaxChars": self.ack_max_chars,
        }
        if self.model:
            out["model"] = self.model
        return out


def heartbeat_agents(
    agents: Iterable[tuple[str, bool, Mapping[str, Any] | None]],
    defaults: Mapping[str, Any] | None,
) -> set[str]:
    """The agents that run heartbeats, by OpenClaw's rule (``resolveHeartbeatAgents``).

    ``agents`` is ``(id, is_default, own block or None)``. When any agent has its own
    block, only those; else the one ``defaults.agentId`` names; else, with a defaults
    block, every agent; else the default agent.
    """
    rows = list(agents)
    own = {slug for slug, _, block in rows if block is not None}
    if own:
        return own
    named = str((defaults or {}).get("agentId") or "").strip().lower()
    if named:
        return {slug for slug, _, _ in rows if slug == named}
    if defaults is not None:
        return {slug for slug, _, _ in rows}
    return {slug for slug, is_default, _ in rows if is_default}


def phase_ms(seed: str, agent_id: str, interval_ms: int) -> int:
    """The agent's fixed offset inside the interval (OpenClaw's heartbeat phase)."""
    digest = hashlib.sha256(f"{seed}:{agent_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % interval_ms


def _normalise_markup(text: str) -> str:
    text = _TAG.sub(" ", text).replace("&nbsp;", " ").strip()
    return _EDGE_MARKUP.sub("", text).strip()


@dataclass(frozen=True)
class Stripped:
    should_skip: bool  # an acknowledgement: not delivered
    text: str  # what is left once the token is taken off
    did_strip: bool


def strip_heartbeat_token(raw: str, *, ack_max_chars: int = DEFAULT_ACK_MAX_CHARS) -> Stripped:
    """OpenClaw's ``stripHeartbeatToken`` in heartbeat mode.

    ``HEARTBEAT_OK`` (also in ``**bold**``, ``<b>`` or with ``.``/``!`` after it) is
    taken off the start and the end, repeatedly; a token in the middle stays. The reply is
    an acknowledgement (``should_skip``) when nothing, or at most ``ack_max_chars``
    characters, is left after a token was taken off; an empty reply is skipped too.
    """
    text = _normalise_markup(raw or "")
    if not text:
        return Stripped(should_skip=True, text="", did_strip=False)
    did_strip = False
    while True:
        changed = False
        if text.startswith(HEARTBEAT_TOKEN):
            text = _normalise_markup(text[len(HEARTBEAT_TOKEN) :].lstrip(" \t\n.:!-,"))
            changed = True
        match = _TRAILING_TOKEN.search(text)
        if match is not None:
            text = _normalise_markup(text[: match.start()].rstrip())
            changed = True
        if not changed:
            break
        did_strip = True
    if not did_strip:
        return Stripped(should_skip=False, text=(raw or "").strip(), did_strip=False)
    return Stripped(should_skip=len(text) <= ack_max_chars, text=text, did_strip=True)


def effectively_empty(content: str | None) -> bool:
    """``HEARTBEAT.md`` with nothing to do: only blank lines, headers, empty list items and
    ``<!-- comments -->``. A missing file (None) is not empty: the turn runs."""
    if content is None:
        return False
    for line in _COMMENT.sub("", content).splitlines():
        stripped = line.strip()
        if not stripped or _HEADER.match(stripped) or _EMPTY_ITEM.match(stripped):
            continue
        return False
    return True
