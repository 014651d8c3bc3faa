"""``config.schema`` and ``config.schema.lookup``: the configuration this gateway accepts.

Generated, not written twice: the paths, keys and choices come from the tables that the
validators use (``gateway.config_service`` for the roots, the gateway paths and the
session keys; ``agents.services.config.AGENT_FIELDS`` and the ``Agent`` model's choices;
``agents.services.bindings``'s key tables; ``channels_app.lib.account_keys`` and the
registered connector kinds; ``sessions_app``'s reset modes and dm scopes). Only the JSON
type of a key whose table names no type is stated here (``_ACCOUNT_TYPES``), and a test
checks each against the validator. Read-only parts of ``config.get`` (port, workspace,
...) are in the schema as ``readOnly``: shown, not settable here.
"""

from __future__ import annotations

import copy
from typing import Any

from django.db import models
from django.utils import timezone

from agents.models import Agent
from agents.services import bindings as binding_keys
from agents.services.config import AGENT_FIELDS, LIST_FIELDS
from agents.services.config import SETTABLE as AGENT_SETTABLE
from channels_app.connectors.registry import connector_kinds
from channels_app.lib import account_keys
from gateway import config_service, http_config, listen
from gateway.catalog.wire import iso, runtime_version
from gateway.lib import hooks as hooks_lib
from sessions_app.lib import keys as session_keys
from sessions_app.lib import reset as reset_lib
from sessions_app.services.settings import RESET_KEYS

JsonSchema = dict[str, Any]

_STRING: JsonSchema = {"type": "string"}
_STRINGS: JsonSchema = {"type": "array", "items": {"type": "string"}}
_READ_ONLY = {"readOnly": True}
_BOOL: JsonSchema = {"type": "boolean"}
_POSITIVE: JsonSchema = {"type": "integer", "minimum": 1}
# JSON types of the channel account keys whose validator (account_keys._CLEANERS) takes
# something other than a string.
_ACCOUNT_TYPES: dict[str, JsonSchema] = {
    "enabled": {"type": "boolean"},
    "requireMention": {"type": "boolean"},
    "dmPolicy": {"type": "string", "enum": list(account_keys.DM_POLICIES)},
    "groupPolicy": {"type": "string", "enum": list(account_keys.GROUP_POLICIES)},
    "allowFrom": _STRINGS,
    "groupAllowFrom": _STRINGS,
    "groups": {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "requireMention": {"type": "boolean"},
                "allowFrom": _STRINGS,
                "enabled": {"type": "boolean"},
            },
        },
    },
    "apiRoot": {"type": "string", "format": "uri"},
    "webhookUrl": {"type": "string", "format": "uri"},
}


def _object(properties: dict[str, JsonSchema], **extra: Any) -> JsonSchema:
    return {"type": "object", "additionalProperties": False, "properties": properties, **extra}


def _nest(into: dict[str, JsonSchema], path: tuple[str, ...], leaf: JsonSchema) -> None:
    """Put ``leaf`` at ``path`` under ``into``, creating the objects on the way."""
    head, *rest = path
    if not rest:
        into[head] = leaf
        return
    node = into.setdefault(head, _object({}))
    _nest(node["properties"], tuple(rest), leaf)


def _agent_field(field: str) -> JsonSchema:
    if field in LIST_FIELDS:
        return copy.deepcopy(_STRINGS)
    model_field = Agent._meta.get_field(field)
    assert isinstance(model_field, models.Field)
    if model_field.choices:
        return {"type": "string", "enum": [str(value) for value, _label in model_field.choices]}
    return (
        {"type": "string", "maxLength": model_field.max_length}
        if model_field.max_length
        else {"type": "string"}
    )


def _agents() -> JsonSchema:
    entry: dict[str, JsonSchema] = {
        "id": {**_STRING, **_READ_ONLY},
        "default": {"type": "boolean", **_READ_ONLY},
        "workspace": {**_STRING, **_READ_ONLY},
        "identity": {"type": "object", **_READ_ONLY},
    }
    for path, field in AGENT_FIELDS.items():
        _nest(entry, path, _agent_field(field))
    defaults: dict[str, JsonSchema] = {}
    for path, field in AGENT_FIELDS.items():
        if path[0] == "model":
            _nest(defaults, path, _agent_field(field))
    return _object(
        {"defaults": _object(defaults), "list": {"type": "array", "items": _object(entry)}},
        description=f"Settable: {AGENT_SETTABLE}.",
    )


def _bindings() -> JsonSchema:
    peer = _object(dict.fromkeys(binding_keys.PEER_KEYS, _STRING))
    peer["properties"]["kind"] = {"type": "string", "enum": list(binding_keys.PEER_KINDS)}
    match = _object(dict.fromkeys(binding_keys.MATCH_KEYS, _STRING), required=["channel"])
    match["properties"].update(peer=peer, roles=_STRINGS)
    binding = _object(dict.fromkeys(binding_keys.BINDING_KEYS, _STRING), required=["agentId"])
    binding["properties"]["match"] = match
    return {"type": "array", "items": binding}


def _account() -> JsonSchema:
    properties: dict[str, JsonSchema] = {}
    for key in account_keys.ACCOUNT_KEYS:
        if key in account_keys.SECRET_KEYS:
            properties[key] = {"type": "string", "writeOnly": True}
        else:
            properties[key] = copy.deepcopy(_ACCOUNT_TYPES.get(key, _STRING))
    return _object(properties)


def _channels() -> JsonSchema:
    kinds = {}
    for kind in connector_kinds():
        kind_schema = _account()
        kind_schema["properties"]["accounts"] = {
            "type": "object",
            "additionalProperties": _account(),
        }
        kinds[kind] = kind_schema
    return _object(kinds)


def _session() -> JsonSchema:
    reset: dict[str, JsonSchema] = {
        "mode": {"type": "string", "enum": list(reset_lib.RESET_MODES)},
        "atHour": {"type": "integer", "minimum": 0, "maximum": 23},
        "idleMinutes": {"type": ["integer", "null"], "minimum": 1},
    }
    assert set(reset) == set(RESET_KEYS), "a reset key has no schema"
    settable: dict[str, JsonSchema] = {
        "dmScope": {"type": "string", "enum": list(session_keys.DM_SCOPES)},
        "identityLinks": {"type": "object", "additionalProperties": _STRINGS},
        "reset": _object(reset),
    }
    properties = {key: settable[key] for key in config_service.SESSION_KEYS}
    properties.update(mainKey={**_STRING, **_READ_ONLY}, scope={**_STRING, **_READ_ONLY})
    return _object(properties)


def _gateway() -> JsonSchema:
    properties: dict[str, JsonSchema] = {
        "mode": {**_STRING, **_READ_ONLY},
        "port": {"type": "integer", **_READ_ONLY},
        "bind": {**_STRING, **_READ_ONLY},
        "auth": {"type": "object", **_READ_ONLY},
    }
    listen_types: dict[str, JsonSchema] = {
        listen.PORT_PATH: {"type": "integer", "minimum": 1, "maximum": 65535},
        listen.BIND_PATH: {"type": "string", "enum": list(listen.BINDS)},
        listen.HOST_PATH: _STRING,
    }
    for path in config_service.GATEWAY_PATHS:
        # The others take a list of strings (addresses, networks, origins).
        leaf = listen_types.get(path, _STRINGS)
        _nest(properties, tuple(path.split("."))[1:], copy.deepcopy(leaf))
    endpoint = _object({"enabled": _BOOL, "maxBodyBytes": _POSITIVE})
    properties["http"] = _object(
        {"endpoints": _object(dict.fromkeys(http_config.ENDPOINTS, endpoint))}
    )
    properties["tools"] = _object({"allow": _STRINGS, "deny": _STRINGS})
    return _object(properties)


def _hooks() -> JsonSchema:
    types: dict[str, JsonSchema] = {
        "enabled": _BOOL,
        "token": {"type": "string", "writeOnly": True},
        "path": _STRING,
        "maxBodyBytes": _POSITIVE,
        "allowedAgentIds": _STRINGS,
        "defaultSessionKey": _STRING,
        "allowRequestSessionKey": _BOOL,
        "allowedSessionKeyPrefixes": _STRINGS,
        "mappings": {"type": "array", "items": {"type": "object"}},
        "presets": {"type": "array", "items": {"type": "string", "enum": list(hooks_lib.PRESETS)}},
    }
    assert set(types) == set(hooks_lib.KEYS), "a hooks key has no schema"
    return _object(types)


def config_json_schema() -> JsonSchema:
    """Return the JSON Schema of the configuration (``config.get``'s ``config``)."""
    roots: dict[str, JsonSchema] = {
        "agents": _agents(),
        "bindings": _bindings(),
        "channels": _channels(),
        "gateway": _gateway(),
        "hooks": _hooks(),
        "session": _session(),
    }
    properties = {root: roots[root] for root in config_service.ROOTS}
    properties["cron"] = {"type": "object", **_READ_ONLY}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "OpenClawConfig",
        **_object(properties),
    }


def _label(key: str) -> str:
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in key).strip()
    return words[:1].upper() + words[1:]


def _hints(schema: JsonSchema, path: str, into: dict[str, dict[str, Any]]) -> None:
    for key, child in schema.get("properties", {}).items():
        child_path = f"{path}.{key}" if path else key
        hint: dict[str, Any] = {"label": _label(key)}
        if child.get("writeOnly"):
            hint["sensitive"] = True
        if child.get("readOnly"):
            hint["help"] = "Read-only here: set in the environment or the admin."
        if child.get("description"):
            hint["help"] = child["description"]
        into[child_path] = hint
        _hints(child, child_path, into)
        items = child.get("items")
        if isinstance(items, dict):
            _hints(items, f"{child_path}[]", into)
        extra = child.get("additionalProperties")
        if isinstance(extra, dict):
            _hints(extra, f"{child_path}.*", into)


def config_schema() -> dict[str, Any]:
    """Return ``config.schema``: ``{schema, uiHints, version, generatedAt}``."""
    schema = config_json_schema()
    hints: dict[str, dict[str, Any]] = {}
    _hints(schema, "", hints)
    return {
        "schema": schema,
        "uiHints": hints,
        "version": runtime_version(),
        "generatedAt": iso(timezone.now()),
    }


class SchemaPathError(LookupError):
    """A path that names nothing in the schema."""


def _child(node: JsonSchema, segment: str) -> tuple[JsonSchema, str]:
    properties = node.get("properties", {})
    if segment in properties:
        return properties[segment], segment
    items = node.get("items")
    if isinstance(items, dict) and (segment.isdigit() or segment in ("*", "[]")):
        return items, "[]"
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        return extra, "*"
    raise SchemaPathError(segment)


def config_schema_lookup(path: str) -> dict[str, Any]:
    """Return ``config.schema.lookup`` for a dotted path (``agents.list.0.model``):
    the node without its children's schemas, its hint and its children.

    Raises ``SchemaPathError`` for a path that is not in the schema.
    """
    schema = config_json_schema()
    hints: dict[str, dict[str, Any]] = {}
    _hints(schema, "", hints)
    node, hint_parts = schema, []
    segments = [s for s in path.replace("[", ".").replace("]", "").split(".") if s]
    for segment in segments:
        try:
            node, hint_segment = _child(node, segment)
        except SchemaPathError:
            raise SchemaPathError(
                f"config schema path not found: {path} (no {segment!r} there)"
            ) from None
        hint_parts.append(hint_segment)
    hint_path = ".".join(hint_parts).replace(".[]", "[]")
    shallow = {
        k: v for k, v in node.items() if k not in ("properties", "items", "additionalProperties")
    }
    required = set(node.get("required", []))
    children = [
        {
            "key": key,
            "path": f"{path}.{key}" if path else key,
            "hintPath": f"{hint_path}.{key}" if hint_path else key,
            "required": key in required,
            "type": child.get("type"),
            "hasChildren": bool(child.get("properties") or child.get("items")),
        }
        for key, child in node.get("properties", {}).items()
    ]
    answer: dict[str, Any] = {
        "path": path,
        "hintPath": hint_path,
        "schema": shallow,
        "children": children,
    }
    if hint_path in hints:
        answer["hint"] = hints[hint_path]
    return answer
