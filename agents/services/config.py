"""Set agent configuration by OpenClaw config paths (``config.patch``, ``manage.py config``).

The configuration lives in the database; ``config.get`` shows it as an OpenClaw config
document (``gateway.catalog.config.config_document``). These paths can be written:

- ``agents.defaults.model.primary`` / ``.fallbacks``: the default agent's model;
- ``agents.defaults.heartbeat.*`` and ``agents.list[N].heartbeat.*``: heartbeats
  (``agents.lib.heartbeat``), their jobs made true at once (``heartbeat_jobs_sync``);
- ``agents.list[N].<field>`` (N as in ``config.get``), or in a merge patch an
  ``agents.list`` entry with its ``id``, where ``<field>`` is ``model.primary``,
  ``model.fallbacks``, ``name``, ``tools.profile``, ``tools.allow``, ``tools.deny``,
  ``tools.sandbox.tools.allow``, ``tools.sandbox.tools.deny``, ``sandbox.mode`` or
  ``sandbox.workspaceAccess``.

Anything else is refused with the list of what can be set; the rest of the
configuration is managed in the admin. Changes apply to the next turn, no restart.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from agents.heartbeat_selectors import heartbeat_settings
from agents.lib.heartbeat import HeartbeatConfig, HeartbeatConfigError
from agents.models import Agent
from agents.selectors import agents_default_first, default_agent
from agents.services.agents import agent_save
from agents.services.cron import heartbeat_jobs_sync

AGENT_FIELDS: dict[tuple[str, ...], str] = {
    ("model", "primary"): "model_primary",
    ("model", "fallbacks"): "model_fallbacks",
    ("name",): "name",
    ("tools", "profile"): "tool_profile",
    ("tools", "allow"): "tools_allow",
    ("tools", "deny"): "tools_deny",
    ("sandbox", "mode"): "sandbox_mode",
    ("sandbox", "workspaceAccess"): "sandbox_workspace_access",
    # OpenClaw's tools.sandbox.tools.*: the sandbox tool policy, on top of tools.allow/deny.
    ("tools", "sandbox", "tools", "allow"): "sandbox_tools_allow",
    ("tools", "sandbox", "tools", "deny"): "sandbox_tools_deny",
}
LIST_FIELDS = frozenset(
    {"model_fallbacks", "tools_allow", "tools_deny", "sandbox_tools_allow", "sandbox_tools_deny"}
)
SETTABLE = (
    "agents.defaults.model.primary, agents.defaults.model.fallbacks, "
    "agents.defaults.heartbeat.*, and "
    "agents.list[N]." + "|".join([*(".".join(k) for k in AGENT_FIELDS), "heartbeat.*"])
)
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class ConfigError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_path(path: str) -> list[str | int]:
    """``agents.list[0].model.primary`` → ``["agents", "list", 0, "model", "primary"]``."""
    parts: list[str | int] = []
    pos = 0
    text = path.strip()
    while pos < len(text):
        if text[pos] == ".":
            pos += 1
            continue
        match = _SEGMENT.match(text, pos)
        if match is None:
            raise ConfigError(
                f"cannot read the config path {path!r}; write it like agents.list[0].model.primary"
            )
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    if not parts:
        raise ConfigError("the config path is empty; e.g. agents.defaults.model.primary")
    return parts


def _default_agent() -> Agent:
    agent = default_agent()
    if agent is None:
        raise ConfigError("there is no agent yet; start the gateway once or add one in the admin")
    return agent


def _agent_at(index: int) -> Agent:
    agents = agents_default_first()
    if not 0 <= index < len(agents):
        raise ConfigError(f"agents.list[{index}] does not exist; there are {len(agents)} agents")
    return agents[index]


def _coerce(field: str, value: Any) -> Any:
    if value is None:  # unset: back to the field's default
        model_field = Agent._meta.get_field(field)
        assert isinstance(model_field, models.Field)
        return model_field.get_default()
    if field in LIST_FIELDS:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            example = '["web_fetch"]' if "tools" in field else '["anthropic/claude-haiku-4-5"]'
            raise ConfigError(f"{field} takes a list of strings, e.g. {example}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{field} takes a string, not {type(value).__name__}")
    return value.strip()


def agent_value_clean(field: str, value: Any) -> Any:
    """``value`` as the Agent field ``field`` stores it (``None``: the field's default);
    raises ``ConfigError`` on a wrong type. The model's own rules run on save."""
    return _coerce(field, value)


def _assign(agent: Agent, rest: tuple[str, ...], value: Any, where: str) -> None:
    field = AGENT_FIELDS.get(rest)
    if field is None:
        raise ConfigError(f"cannot set {where} here; settable: {SETTABLE}")
    setattr(agent, field, _coerce(field, value))


def _save(agent: Agent) -> None:
    try:
        agent_save(agent=agent)
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise ConfigError(f"agent {agent.slug}: {detail}") from None


# --- heartbeat (agents.defaults.heartbeat, agents.list[N].heartbeat) ----------------------
def _block_set(block: Any, rest: list[str | int], value: Any, where: str) -> dict[str, Any] | None:
    """``block`` with ``rest`` set to ``value`` (None removes it); checked as a whole."""
    return _block_merge(block, [(rest, value)], where)


def _block_merge(
    block: Any, changes: list[tuple[list[str | int], Any]], where: str
) -> dict[str, Any] | None:
    """``block`` with every change made, then checked once (a merge patch's leaves)."""
    new: Any = copy.deepcopy(block) if isinstance(block, dict) else None
    for rest, value in changes:
        if not rest:
            new = copy.deepcopy(value)
            continue
        new = new if isinstance(new, dict) else {}
        node = new
        for key in rest[:-1]:
            child = node.get(str(key))
            node[str(key)] = child = child if isinstance(child, dict) else {}
            node = child
        if value is None:
            node.pop(str(rest[-1]), None)
        else:
            node[str(rest[-1])] = value
    if new is None:
        return None
    try:
        HeartbeatConfig.parse(new)
    except HeartbeatConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return dict(new)


def _heartbeat_set(parts: list[str | int], value: Any, path: str) -> bool:
    """Set a heartbeat path; False when ``parts`` is not one."""
    if parts[:3] == ["agents", "defaults", "heartbeat"]:
        row = heartbeat_settings()
        row.defaults = _block_set(row.defaults, parts[3:], value, path)
        row.save()
    elif (
        len(parts) >= 4
        and parts[:2] == ["agents", "list"]
        and isinstance(parts[2], int)
        and parts[3] == "heartbeat"
    ):
        agent = _agent_at(parts[2])
        agent.heartbeat = _block_set(agent.heartbeat, parts[4:], value, path)
        agent.save(update_fields=["heartbeat", "updated_at"])
    else:
        return False
    heartbeat_jobs_sync()
    return True


@transaction.atomic
def config_set(path: str, value: Any) -> None:
    """Set (``value=None``: reset to the default) one config path."""
    parts = parse_path(path)
    if _heartbeat_set(parts, value, path):
        return
    if parts[:3] == ["agents", "defaults", "model"] and len(parts) in (3, 4):
        agent = _default_agent()
        key = parts[3] if len(parts) == 4 else "primary"
        _assign(agent, ("model", str(key)), value, path)
        _save(agent)
        return
    if len(parts) >= 3 and parts[:2] == ["agents", "list"] and isinstance(parts[2], int):
        agent = _agent_at(parts[2])
        rest = tuple(str(p) for p in parts[3:])
        if rest == ("model",):
            rest = ("model", "primary")
        _assign(agent, rest, value, path)
        _save(agent)
        return
    raise ConfigError(f"cannot set {path} here; settable: {SETTABLE}. The rest is in the admin.")


def _leaves(prefix: tuple[str, ...], obj: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in obj.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping):
            out.extend(_leaves(path, value))
        else:
            out.append((path, value))
    return out


def _patch_defaults(value: Any, changed: list[str], unsupported: list[str]) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError("agents.defaults must be an object")
    heartbeat: list[tuple[list[str | int], Any]] = []
    for leaf, leaf_value in _leaves(("agents", "defaults"), value):
        if leaf[:3] == ("agents", "defaults", "model"):
            config_set(".".join(leaf), leaf_value)
        elif leaf[:3] == ("agents", "defaults", "heartbeat"):
            heartbeat.append((list(leaf[3:]), leaf_value))
        else:
            unsupported.append(".".join(leaf))
            continue
        changed.append(".".join(leaf))
    if heartbeat:
        row = heartbeat_settings()
        row.defaults = _block_merge(row.defaults, heartbeat, "agents.defaults.heartbeat")
        row.save()


def _patch_list(value: Any, changed: list[str], unsupported: list[str]) -> None:
    if not isinstance(value, list):
        raise ConfigError("agents.list must be a list of objects with an id")
    for entry in value:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
            raise ConfigError(
                "each agents.list entry needs its id, e.g. {id: 'main', model: {primary: '...'}}"
            )
        agent = Agent.objects.filter(slug=entry["id"].strip().lower()).first()
        if agent is None:
            raise ConfigError(f"no agent {entry['id']!r}; create agents in the admin")
        body = {k: v for k, v in entry.items() if k != "id"}
        if isinstance(body.get("model"), str):
            body["model"] = {"primary": body["model"]}
        heartbeat: list[tuple[list[str | int], Any]] = []
        for leaf, leaf_value in _leaves((), body):
            where = f"agents.list[id={agent.slug}]." + ".".join(leaf)
            if leaf[0] == "heartbeat":
                heartbeat.append((list(leaf[1:]), leaf_value))
                changed.append(where)
                continue
            if leaf not in AGENT_FIELDS:
                unsupported.append(where)
                continue
            _assign(agent, leaf, leaf_value, where)
            changed.append(where)
        if heartbeat:
            where = f"agents.list[id={agent.slug}].heartbeat"
            agent.heartbeat = _block_merge(agent.heartbeat, heartbeat, where)
        _save(agent)


@transaction.atomic
def config_patch(patch: Mapping[str, Any]) -> list[str]:
    """Apply a JSON merge patch (objects merge, ``null`` resets, arrays replace; entries
    of ``agents.list`` are matched by ``id``); return the paths changed.

    All or nothing: an unsupported path or an invalid value changes nothing.
    """
    if not isinstance(patch, Mapping):
        raise ConfigError(
            "the patch must be a JSON object, e.g. "
            "{agents: {defaults: {model: {primary: 'openai/gpt-4o-mini'}}}}"
        )
    changed: list[str] = []
    unsupported = [str(k) for k in patch if k != "agents"]
    agents_patch = patch.get("agents") or {}
    if not isinstance(agents_patch, Mapping):
        raise ConfigError("agents must be an object")
    for key, value in agents_patch.items():
        if key == "defaults":
            _patch_defaults(value, changed, unsupported)
        elif key == "list":
            _patch_list(value, changed, unsupported)
        else:
            unsupported.append(f"agents.{key}")
    if unsupported:
        raise ConfigError(
            f"cannot set {', '.join(sorted(unsupported))} here; settable: {SETTABLE}. "
            "The rest is managed in the admin."
        )
    if any(".heartbeat" in path for path in changed):
        heartbeat_jobs_sync()
    return changed
