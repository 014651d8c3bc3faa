"""Webhook mappings (OpenClaw ``hooks.mappings`` and ``hooks.presets``).

``POST <hooks path>/<name>`` for a name other than ``wake`` and ``agent`` is matched
against the mappings in order (OpenClaw's ``src/gateway/hooks-mapping.ts``): a mapping
matches when its ``match.path`` equals the sub-path and its ``match.source`` (if any)
equals the payload's ``source``. The first match becomes a ``wake`` action (text from
``textTemplate``) or an ``agent`` action (message from ``messageTemplate``, plus name,
agentId, sessionKey, wakeMode, deliver, channel, to, model, thinking, timeoutSeconds,
allowUnsafeExternalContent). Templates substitute ``{{expr}}``: ``path``, ``now``,
``headers.<name>``, ``query.<name>``, ``payload.<a.b[0].c>`` or a bare payload path.

Not supported here: ``transform`` modules (OpenClaw loads JavaScript) and
``hooks.transformsDir``; a mapping that names one is refused when it is set.

Pure module: no Django.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAPPING_KEYS = (
    "id", "match", "action", "wakeMode", "name", "agentId", "sessionKey", "messageTemplate",
    "textTemplate", "deliver", "allowUnsafeExternalContent", "channel", "to", "model",
    "thinking", "timeoutSeconds",
)  # fmt: skip
_STRING_KEYS = (
    "id", "name", "agentId", "sessionKey", "messageTemplate", "textTemplate", "channel", "to",
    "model", "thinking",
)  # fmt: skip
PRESET_MAPPINGS: dict[str, tuple[dict[str, Any], ...]] = {
    "gmail": (
        {
            "id": "gmail",
            "match": {"path": "gmail"},
            "action": "agent",
            "wakeMode": "now",
            "name": "Gmail",
            "sessionKey": "hook:gmail:{{messages[0].id}}",
            "messageTemplate": "New email from {{messages[0].from}}\nSubject: "
            "{{messages[0].subject}}\n{{messages[0].snippet}}\n{{messages[0].body}}",
        },
    ),
}
_EXPR = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
# Never walk into these on an attacker's payload (OpenClaw blocks them for JS prototypes;
# harmless in Python, kept so a template behaves the same on both).
_BLOCKED = frozenset({"__proto__", "prototype", "constructor"})


class MappingError(ValueError):
    """A mapping that cannot be used; the message names it."""


@dataclass(frozen=True)
class HookMapping:
    id: str
    action: str = "agent"  # wake | agent
    match_path: str | None = None
    match_source: str | None = None
    wake_mode: str = "now"
    text_template: str = ""
    message_template: str = ""
    # Agent fields, templated where OpenClaw templates them (name, sessionKey, to, model,
    # thinking); the rest as configured.
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MappingContext:
    payload: Mapping[str, Any]
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    path: str  # the sub-path after the hooks path


def _match_path(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    return raw.strip().strip("/") or None


def _mapping(raw: Any, index: int) -> HookMapping:
    where = f"hooks.mappings[{index}]"
    if not isinstance(raw, Mapping):
        raise MappingError(f"{where} must be an object, e.g. {{match: {{path: 'github'}}}}")
    if "transform" in raw:
        raise MappingError(f"{where}.transform: transform modules are not supported here")
    unknown = sorted(set(raw) - set(MAPPING_KEYS))
    if unknown:
        raise MappingError(f"unknown key {where}.{unknown[0]}; known: {', '.join(MAPPING_KEYS)}")
    for key in _STRING_KEYS:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise MappingError(f"{where}.{key} takes a string")
    for key in ("deliver", "allowUnsafeExternalContent"):
        if raw.get(key) is not None and not isinstance(raw[key], bool):
            raise MappingError(f"{where}.{key} takes true or false")
    match = raw.get("match") or {}
    if not isinstance(match, Mapping) or set(match) - {"path", "source"}:
        raise MappingError(f"{where}.match takes {{path?, source?}}")
    action = raw.get("action") or "agent"
    if action not in ("wake", "agent"):
        raise MappingError(f"{where}.action must be wake or agent")
    wake_mode = raw.get("wakeMode") or "now"
    if wake_mode not in ("now", "next-heartbeat"):
        raise MappingError(f"{where}.wakeMode must be now or next-heartbeat")
    timeout = raw.get("timeoutSeconds")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0
    ):
        raise MappingError(f"{where}.timeoutSeconds takes a positive whole number")
    source = match.get("source")
    return HookMapping(
        id=(raw.get("id") or "").strip() or f"mapping-{index + 1}",
        action=action,
        match_path=_match_path(match.get("path")),
        match_source=source.strip() or None if isinstance(source, str) else None,
        wake_mode=wake_mode,
        text_template=raw.get("textTemplate") or "",
        message_template=raw.get("messageTemplate") or "",
        fields={
            k: raw[k]
            for k in (
                "name",
                "agentId",
                "sessionKey",
                "deliver",
                "allowUnsafeExternalContent",
                "channel",
                "to",
                "model",
                "thinking",
                "timeoutSeconds",
            )
            if raw.get(k) is not None
        },
    )


def mappings_resolve(raw: Any, presets: Iterable[str]) -> tuple[HookMapping, ...]:
    """The configured mappings, then those of the presets; raise MappingError (a
    ``ValueError``) for one that cannot be used."""
    if not isinstance(raw, list):
        raise MappingError("hooks.mappings takes a list of mappings")
    listed: list[Any] = list(raw)
    for preset in presets:
        listed.extend(PRESET_MAPPINGS.get(preset, ()))
    return tuple(_mapping(item, index) for index, item in enumerate(listed))


# --- templates ------------------------------------------------------------------------------
def _walk(value: Any, expr: str) -> Any:
    for name, index in _PART.findall(expr):
        if value is None:
            return None
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
        elif name in _BLOCKED or not isinstance(value, Mapping):
            return None
        else:
            value = value.get(name)
    return value


def _resolve(expr: str, ctx: MappingContext) -> Any:
    if expr == "path":
        return ctx.path
    if expr == "now":
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if expr.startswith("headers."):
        return ctx.headers.get(expr[len("headers.") :].lower())
    if expr.startswith("query."):
        return ctx.query.get(expr[len("query.") :])
    if expr.startswith("payload."):
        return _walk(ctx.payload, expr[len("payload.") :])
    return _walk(ctx.payload, expr)


def render(template: str, ctx: MappingContext) -> str:
    """Substitute every ``{{expr}}`` (missing: empty; objects and lists as JSON)."""

    def one(match: re.Match[str]) -> str:
        value = _resolve(match.group(1).strip(), ctx)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    return _EXPR.sub(one, template) if template else ""


def _optional(value: Any, ctx: MappingContext) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return render(value, ctx).strip() or None


def mapping_match(mappings: Sequence[HookMapping], ctx: MappingContext) -> HookMapping | None:
    """The first mapping for this sub-path and payload ``source``, or None."""
    source = ctx.payload.get("source")
    for mapping in mappings:
        if mapping.match_path and mapping.match_path != ctx.path.strip("/"):
            continue
        if mapping.match_source and mapping.match_source != source:
            continue
        return mapping
    return None


def mapping_action(mapping: HookMapping, ctx: MappingContext) -> dict[str, Any]:
    """The action a matched mapping makes, as a ``wake`` or ``agent`` payload (what
    ``POST <path>/wake`` or ``/agent`` would take), plus ``kind``; raise MappingError when
    its text or message renders empty (OpenClaw: "hook mapping requires …")."""
    if mapping.action == "wake":
        text = render(mapping.text_template, ctx)
        if not text.strip():
            raise MappingError("hook mapping requires text")
        return {"kind": "wake", "text": text, "mode": mapping.wake_mode}
    message = render(mapping.message_template, ctx)
    if not message.strip():
        raise MappingError("hook mapping requires message")
    fields = dict(mapping.fields)
    for key in ("name", "sessionKey", "to", "model", "thinking"):
        if key in fields:
            fields[key] = _optional(fields[key], ctx)
    return {
        "kind": "agent",
        "message": message,
        "wakeMode": mapping.wake_mode,
        **{k: v for k, v in fields.items() if v is not None},
    }
