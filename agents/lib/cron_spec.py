"""A cron job as OpenClaw writes it (``cron.add`` params, ``jobs.json``), checked. Pure.

``parse_job`` turns OpenClaw's job JSON into a ``JobSpec`` (what the ``CronJob`` row
holds) or raises ``CronSpecError`` saying what to fix; ``spec_openclaw`` turns a spec
back into OpenClaw's shape; ``merge_patch`` applies a ``cron.update`` patch to a job's
OpenClaw shape. Rules (reference spec §9): a ``main`` job injects a ``systemEvent``; an
``isolated`` or ``session:<key>`` job runs an ``agentTurn``; ``announce`` delivery is for
those only. Kinds this gateway does not run (``command``/``script`` payloads,
``on-exit``/``stream`` schedules, ``webhook`` delivery) are refused, never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agents.lib import cron_schedule
from agents.lib.cron_schedule import Schedule, ScheduleError

NAME_MAX_LENGTH = 200
TEXT_MAX_LENGTH = 20_000
SESSION_KEY_MAX_LENGTH = 512
DELIVERY_MODES = ("none", "announce")
WAKE_MODES = ("now", "next-heartbeat")
# Fields of an agentTurn payload kept as given; the runtime uses model, timeoutSeconds
# and toolsAllow (the others are stored for a round trip to OpenClaw).
AGENT_TURN_FIELDS = (
    "message",
    "model",
    "fallbacks",
    "thinking",
    "timeoutSeconds",
    "toolsAllow",
    "lightContext",
    "allowUnsafeExternalContent",
)
DELIVERY_FIELDS = ("mode", "channel", "to", "accountId", "threadId", "bestEffort")


class CronSpecError(ValueError):
    """A job that cannot be stored; the message says what to fix."""


@dataclass(frozen=True)
class JobSpec:
    name: str
    schedule: Schedule
    session_target: str  # main | isolated | session
    payload: dict[str, Any]
    target_session_key: str = ""
    wake_mode: str = "now"
    delivery: dict[str, Any] = field(default_factory=dict)
    failure_alert: dict[str, Any] = field(default_factory=dict)
    agent_id: str | None = None
    session_key: str = ""
    description: str = ""
    enabled: bool = True
    delete_after_run: bool = False


def _text(data: Mapping[str, Any], name: str, *, limit: int, required: bool = False) -> str:
    value = data.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CronSpecError(f"{name} must be a string")
    value = value.strip()
    if required and not value:
        raise CronSpecError(f"{name} is required and must not be blank")
    if len(value) > limit:
        raise CronSpecError(f"{name} is longer than {limit} characters")
    return value


def _int(value: Any, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise CronSpecError(f"{name} must be a whole number")
    if value < minimum:
        raise CronSpecError(f"{name} must be at least {minimum}")
    return int(value)


def _ms_time(value: Any, name: str) -> datetime:
    return datetime.fromtimestamp(_int(value, name) / 1000, UTC)


def parse_schedule(raw: Any, *, now: datetime) -> Schedule:
    """OpenClaw's ``schedule`` object: ``{kind: at|every|cron, ...}``."""
    if not isinstance(raw, Mapping):
        raise CronSpecError(
            'schedule is required: {"kind": "every", "everyMs": 3600000}, {"kind": "at", '
            '"at": "2026-03-01T09:00:00Z"} or {"kind": "cron", "expr": "0 9 * * 1-5"}'
        )
    kind = raw.get("kind")
    try:
        if kind == "at":
            at = raw.get("at")
            if isinstance(at, int | float) and not isinstance(at, bool):
                return Schedule(kind="at", at=_ms_time(at, "schedule.at"))
            if not isinstance(at, str):
                raise CronSpecError("schedule.at must be an ISO 8601 time or a duration like 20m")
            return Schedule(kind="at", at=cron_schedule.parse_at(at, now=now, tz=_tz(raw)))
        if kind == "every":
            anchor = raw.get("anchorMs")
            return Schedule(
                kind="every",
                every_ms=_int(raw.get("everyMs"), "schedule.everyMs"),
                anchor=None if anchor is None else _ms_time(anchor, "schedule.anchorMs"),
            )
        if kind == "cron":
            expr = raw.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                raise CronSpecError("schedule.expr is required, e.g. '0 9 * * 1-5'")
            stagger = raw.get("staggerMs")
            return Schedule(
                kind="cron",
                expr=cron_schedule.check_expr(expr),
                tz=_tz(raw),
                stagger_ms=None if stagger is None else _int(stagger, "schedule.staggerMs"),
            )
    except ScheduleError as exc:
        raise CronSpecError(str(exc)) from None
    raise CronSpecError(f"schedule.kind {kind!r} is not supported here; use at, every or cron")


def _tz(raw: Mapping[str, Any]) -> str:
    tz = raw.get("tz") or ""
    if not isinstance(tz, str):
        raise CronSpecError("schedule.tz must be an IANA time zone name, e.g. Europe/Berlin")
    tz = tz.strip()
    if tz:
        cron_schedule.zone(tz)
    return tz


def _target(data: Mapping[str, Any], payload_kind: str) -> tuple[str, str]:
    raw = data.get("sessionTarget")
    if raw is None or raw == "":
        return ("main" if payload_kind == "systemEvent" else "isolated"), ""
    if not isinstance(raw, str):
        raise CronSpecError("sessionTarget must be main, isolated, current or session:<key>")
    text = raw.strip()
    lower = text.lower()
    if lower in ("main", "isolated"):
        return lower, ""
    if lower == "current":
        key = _text(data, "sessionKey", limit=SESSION_KEY_MAX_LENGTH)
        if not key:
            raise CronSpecError("sessionTarget 'current' needs sessionKey (the session to run in)")
        return "session", key
    if lower.startswith("session:") and text[8:].strip():
        key = text[8:].strip()
        if len(key) > SESSION_KEY_MAX_LENGTH:
            raise CronSpecError(f"the session key is longer than {SESSION_KEY_MAX_LENGTH}")
        return "session", key
    raise CronSpecError(f"sessionTarget {raw!r} is not main, isolated, current or session:<key>")


def _payload(raw: Any, target: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise CronSpecError(
            'payload is required: {"kind": "systemEvent", "text": "..."} for a main job, '
            '{"kind": "agentTurn", "message": "..."} for an isolated one'
        )
    kind = raw.get("kind")
    if kind == "systemEvent":
        if target != "main":
            raise CronSpecError(
                f"a {target} job runs an agentTurn payload; systemEvent is for main jobs"
            )
        return {"kind": kind, "text": _text(raw, "text", limit=TEXT_MAX_LENGTH, required=True)}
    if kind != "agentTurn":
        raise CronSpecError(
            f"payload.kind {kind!r} is not supported here; use systemEvent or agentTurn"
        )
    if target == "main":
        raise CronSpecError(
            "a main job injects a systemEvent payload; use sessionTarget isolated for an agentTurn"
        )
    return _agent_turn(raw, target)


def _agent_turn(raw: Mapping[str, Any], target: str) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "agentTurn"}
    out["message"] = _text(raw, "message", limit=TEXT_MAX_LENGTH, required=True)
    model = raw.get("model")
    if model not in (None, ""):
        if not isinstance(model, str) or "/" not in model.strip():
            raise CronSpecError(
                f"payload.model {model!r} is not provider/model, e.g. openai/gpt-4o"
            )
        out["model"] = model.strip()
    timeout = raw.get("timeoutSeconds")
    if timeout is not None:
        out["timeoutSeconds"] = _int(timeout, "payload.timeoutSeconds")
    tools = raw.get("toolsAllow")
    if tools is not None:
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            raise CronSpecError('payload.toolsAllow must be a list of tool names, e.g. ["read"]')
        if target != "isolated":
            raise CronSpecError("payload.toolsAllow applies to isolated jobs only")
        out["toolsAllow"] = [t.strip() for t in tools if t.strip()]
    for name in AGENT_TURN_FIELDS:
        if name not in out and raw.get(name) is not None:
            out[name] = raw[name]
    return out


def _delivery(raw: Any, target: str) -> dict[str, Any]:
    if raw is None or raw == {}:
        return {}
    if not isinstance(raw, Mapping):
        raise CronSpecError('delivery must be an object, e.g. {"mode": "announce", "to": "42"}')
    mode = raw.get("mode", "announce")
    if mode == "webhook":
        raise CronSpecError(
            "webhook delivery is not supported by this gateway; use announce with a channel"
        )
    if mode not in DELIVERY_MODES:
        raise CronSpecError(f"delivery.mode {mode!r} is not none or announce")
    if mode == "announce" and target == "main":
        raise CronSpecError("announce delivery is for isolated jobs; a main job answers in-session")
    out: dict[str, Any] = {"mode": mode}
    for name in DELIVERY_FIELDS[1:]:
        value = raw.get(name)
        if value is None or value == "":
            continue
        if name == "bestEffort":
            out[name] = bool(value)
        elif isinstance(value, str | int) and not isinstance(value, bool):
            out[name] = str(value).strip()
        else:
            raise CronSpecError(f"delivery.{name} must be a string")
    return out


def parse_job(data: Mapping[str, Any], *, now: datetime, job_id: str) -> JobSpec:
    """Check OpenClaw's job JSON; raise CronSpecError naming the first problem.

    ``at`` may lie in the past (an imported job keeps its time): callers refuse it for
    new jobs. ``job_id`` fixes the cron stagger for the never-fires check.
    """
    if not isinstance(data, Mapping):
        raise CronSpecError("a cron job is a JSON object")
    name = _text(data, "name", limit=NAME_MAX_LENGTH, required=True)
    schedule = parse_schedule(data.get("schedule"), now=now)
    raw_payload = data.get("payload")
    kind = raw_payload.get("kind") if isinstance(raw_payload, Mapping) else None
    target, target_key = _target(data, str(kind or ""))
    payload = _payload(raw_payload, target)
    try:
        cron_schedule.validate(schedule, now=now, job_id=job_id, allow_past=True)
    except ScheduleError as exc:
        raise CronSpecError(str(exc)) from None
    wake = data.get("wakeMode") or "now"
    if wake not in WAKE_MODES:
        raise CronSpecError(f"wakeMode {wake!r} is not now or next-heartbeat")
    alert = data.get("failureAlert")
    if alert is not None and not isinstance(alert, bool | Mapping):
        raise CronSpecError("failureAlert must be false or an object")
    enabled = data.get("enabled", True)
    delete = data.get("deleteAfterRun")
    if not isinstance(enabled, bool) or not isinstance(delete, bool | None):
        raise CronSpecError("enabled and deleteAfterRun must be true or false")
    agent = data.get("agentId")
    if agent is not None and (not isinstance(agent, str) or not agent.strip()):
        raise CronSpecError("agentId must be an agent id, e.g. main")
    return JobSpec(
        name=name,
        schedule=schedule,
        session_target=target,
        target_session_key=target_key,
        payload=payload,
        wake_mode=wake,
        delivery=_delivery(data.get("delivery"), target),
        failure_alert=_failure_alert(alert),
        agent_id=agent.strip().lower() if agent else None,
        session_key=_text(data, "sessionKey", limit=SESSION_KEY_MAX_LENGTH),
        description=_text(data, "description", limit=TEXT_MAX_LENGTH),
        enabled=enabled,
        # One-shot jobs delete themselves after success unless told otherwise (OpenClaw).
        delete_after_run=delete if delete is not None else schedule.kind == "at",
    )


def _failure_alert(alert: Any) -> dict[str, Any]:
    if alert is False:
        return {"disabled": True}
    return dict(alert) if isinstance(alert, Mapping) else {}


def schedule_openclaw(schedule: Schedule) -> dict[str, Any]:
    """OpenClaw's ``schedule`` object of a schedule."""
    if schedule.kind == "at":
        at = schedule.at
        text = None if at is None else at.astimezone(UTC).isoformat(timespec="milliseconds")
        return {"kind": "at", "at": text.replace("+00:00", "Z") if text else None}
    if schedule.kind == "every":
        out: dict[str, Any] = {"kind": "every", "everyMs": schedule.every_ms}
        if schedule.anchor is not None:
            out["anchorMs"] = int(schedule.anchor.timestamp() * 1000)
        return out
    out = {"kind": "cron", "expr": schedule.expr}
    if schedule.tz:
        out["tz"] = schedule.tz
    if schedule.stagger_ms is not None:
        out["staggerMs"] = schedule.stagger_ms
    return out


def spec_openclaw(spec: JobSpec) -> dict[str, Any]:
    """The configuration part of OpenClaw's job shape (no id, timestamps or state)."""
    out: dict[str, Any] = {"name": spec.name, "enabled": spec.enabled}
    if spec.agent_id:
        out["agentId"] = spec.agent_id
    if spec.session_key:
        out["sessionKey"] = spec.session_key
    if spec.description:
        out["description"] = spec.description
    out["deleteAfterRun"] = spec.delete_after_run
    out["schedule"] = schedule_openclaw(spec.schedule)
    out["sessionTarget"] = (
        f"session:{spec.target_session_key}"
        if spec.session_target == "session"
        else spec.session_target
    )
    out["wakeMode"] = spec.wake_mode
    out["payload"] = dict(spec.payload)
    if spec.delivery:
        out["delivery"] = dict(spec.delivery)
    if spec.failure_alert:
        out["failureAlert"] = (
            False if spec.failure_alert.get("disabled") else dict(spec.failure_alert)
        )
    return out


def merge_patch(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``cron.update``: ``patch`` over the job's OpenClaw shape.

    ``schedule`` is replaced whole; ``payload`` is merged field by field when its kind
    stays (else replaced) and ``delivery`` is merged; other fields are replaced. ``id``
    and ``state`` cannot be patched.
    """
    if not isinstance(patch, Mapping):
        raise CronSpecError("patch must be an object of the fields to change")
    merged = dict(current)
    for name, value in patch.items():
        if name in ("id", "jobId", "state", "createdAtMs", "updatedAtMs"):
            continue
        old = merged.get(name)
        if name == "payload" and isinstance(value, Mapping) and isinstance(old, Mapping):
            same = value.get("kind", old.get("kind")) == old.get("kind")
            merged[name] = {**old, **value} if same else dict(value)
        elif name == "delivery" and isinstance(value, Mapping) and isinstance(old, Mapping):
            merged[name] = {**old, **value}
        else:
            merged[name] = value
    if "sessionTarget" not in patch and isinstance(patch.get("payload"), Mapping):
        # A payload of the other kind moves the job to the matching target.
        kind = patch["payload"].get("kind")
        if kind == "systemEvent" and merged.get("sessionTarget") != "main":
            merged["sessionTarget"] = "main"
            merged.pop("delivery", None)
        elif kind == "agentTurn" and merged.get("sessionTarget") == "main":
            merged["sessionTarget"] = "isolated"
    return {k: v for k, v in merged.items() if v is not None}
