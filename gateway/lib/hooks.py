"""Webhooks (OpenClaw ``hooks.*``): the configuration's rules and the request payloads.

OpenClaw's ``src/gateway/hooks.ts``: ``hooks.token`` is required when enabled, ``path``
defaults to ``/hooks`` and may not be ``/``, a body is capped at ``maxBodyBytes``
(256 KiB), ``allowedAgentIds`` restricts an explicit ``agentId`` (absent or ``"*"``: any;
``[]``: none), a request's ``sessionKey`` is refused unless ``allowRequestSessionKey``,
and ``allowedSessionKeyPrefixes`` (which must admit ``hook:`` when there is no
``defaultSessionKey``) restricts the keys a request or mapping may name.

Pure module: no Django. ``gateway.http_config`` stores and caches the configuration,
``gateway.hooks`` turns an action into a run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.lib.hook_mappings import HookMapping, MappingError, mappings_resolve

DEFAULT_PATH = "/hooks"
DEFAULT_MAX_BODY_BYTES = 256 * 1024
# What Django's ASGI handler keeps in memory per request is not the limit here: the body
# is read from its spooled file. Still, a webhook is a small JSON document.
MAX_BODY_BYTES_LIMIT = 20 * 1024 * 1024
WAKE_MODES = ("now", "next-heartbeat")
# Paths this gateway serves itself: a hooks path under one of them would never be reached.
RESERVED_PATHS = (
    "/admin", "/v1", "/tools", "/health", "/ready", "/static", "/__openclaw__",
    "/__openclaw", "/avatar", "/chat", "/webchat", "/home", "/api/v1/nodes", "/api/v1/cluster",
)  # fmt: skip
KEYS = (
    "enabled", "token", "path", "maxBodyBytes", "allowedAgentIds", "defaultSessionKey",
    "allowRequestSessionKey", "allowedSessionKeyPrefixes", "mappings", "presets",
)  # fmt: skip
PRESETS = ("gmail",)
AGENT_POLICY_ERROR = "agentId is not allowed by hooks.allowedAgentIds"
SESSION_KEY_REQUEST_ERROR = (
    "sessionKey is disabled for external /hooks/agent payloads; "
    "set hooks.allowRequestSessionKey=true to enable"
)


class HookError(Exception):
    """A configuration value or a payload that is refused; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- configuration ---------------------------------------------------------------------------
def _bool(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise HookError(f"hooks.{key} takes true or false")
    return value


def _string_list(raw: Mapping[str, Any], key: str) -> list[str] | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HookError(f'hooks.{key} takes a list of strings, e.g. ["main"]')
    return [v.strip() for v in value if v.strip()]


def path_clean(value: Any) -> str:
    """``hooks.path`` with one leading slash and none at the end; raise HookError."""
    if value is None:
        return DEFAULT_PATH
    if not isinstance(value, str):
        raise HookError('hooks.path takes a path, e.g. "/hooks"')
    text = value.strip() or DEFAULT_PATH
    text = "/" + text.lstrip("/")
    text = text.rstrip("/") or "/"
    if text == "/":
        raise HookError("hooks.path may not be '/'; use e.g. /hooks")
    if any(c in text for c in "?#%\\ ") or "//" in text:
        raise HookError(f"hooks.path {text!r} must be a plain path such as /hooks")
    clash = next((p for p in RESERVED_PATHS if text == p or text.startswith(p + "/")), None)
    first = text.split("/")[1]
    if clash is None and first.endswith("-webhook"):
        clash = f"/{first}"  # the channel webhooks: /<kind>-webhook
    if clash is not None:
        raise HookError(f"hooks.path {text!r} is under {clash}, which the gateway serves itself")
    return text


def prefixes_normalize(prefixes: list[str] | None) -> list[str] | None:
    if prefixes is None:
        return None
    out = list(dict.fromkeys(p.strip().lower() for p in prefixes if p.strip()))
    return out or None


def hooks_clean(raw: Mapping[str, Any], *, has_token: bool) -> dict[str, Any]:
    """Validate a ``hooks`` object (without its token); return it normalized.

    ``has_token``: whether a token is set (it is stored apart, encrypted). Raises
    ``HookError`` naming the first wrong key.
    """
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        if "transformsDir" in unknown or "gmail" in unknown:
            raise HookError(f"hooks.{unknown[0]} is not supported by this gateway")
        raise HookError(f"unknown key hooks.{unknown[0]}; known keys: {', '.join(KEYS)}")
    enabled = _bool(raw, "enabled")
    if enabled and not has_token:
        raise HookError(
            "hooks.enabled requires hooks.token: set a dedicated secret first, e.g. "
            "config set hooks.token $(openssl rand -hex 24)"
        )
    max_body = raw.get("maxBodyBytes")
    if max_body is not None and (
        isinstance(max_body, bool)
        or not isinstance(max_body, int)
        or not 0 < max_body <= MAX_BODY_BYTES_LIMIT
    ):
        raise HookError(f"hooks.maxBodyBytes takes a byte count from 1 to {MAX_BODY_BYTES_LIMIT}")
    default_key = raw.get("defaultSessionKey")
    if default_key is not None and not isinstance(default_key, str):
        raise HookError('hooks.defaultSessionKey takes a session key, e.g. "hook:ingress"')
    default_key = (default_key or "").strip() or None
    prefixes = prefixes_normalize(_string_list(raw, "allowedSessionKeyPrefixes"))
    if prefixes and default_key and not default_key.lower().startswith(tuple(prefixes)):
        raise HookError("hooks.defaultSessionKey must match hooks.allowedSessionKeyPrefixes")
    if prefixes and not default_key and not "hook:example".startswith(tuple(prefixes)):
        raise HookError(
            "hooks.allowedSessionKeyPrefixes must include 'hook:' when "
            "hooks.defaultSessionKey is unset"
        )
    presets = _string_list(raw, "presets")
    bad = [p for p in presets or () if p not in PRESETS]
    if bad:
        raise HookError(f"hooks.presets: unknown preset {bad[0]!r}; known: {', '.join(PRESETS)}")
    mappings = raw.get("mappings")
    if mappings is not None:
        try:
            mappings_resolve(mappings, ())
        except MappingError as exc:
            raise HookError(str(exc)) from None
    cleaned: dict[str, Any] = {
        "enabled": enabled,
        "path": path_clean(raw.get("path")),
        "maxBodyBytes": max_body or DEFAULT_MAX_BODY_BYTES,
        "allowRequestSessionKey": _bool(raw, "allowRequestSessionKey"),
    }
    optional = {
        "allowedAgentIds": _string_list(raw, "allowedAgentIds"),
        "defaultSessionKey": default_key,
        "allowedSessionKeyPrefixes": prefixes,
        "mappings": mappings,
        "presets": presets,
    }
    cleaned.update({k: v for k, v in optional.items() if v is not None})
    return cleaned


@dataclass(frozen=True)
class HooksPolicy:
    """The enabled webhook configuration as a request needs it."""

    token: str
    base_path: str = DEFAULT_PATH
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    mappings: tuple[HookMapping, ...] = ()
    # None: any agent; an empty set: no explicit agentId at all.
    allowed_agent_ids: frozenset[str] | None = None
    default_session_key: str | None = None
    allow_request_session_key: bool = False
    allowed_prefixes: tuple[str, ...] | None = None

    @classmethod
    def from_cleaned(cls, cleaned: Mapping[str, Any], *, token: str) -> HooksPolicy:
        allowed = cleaned.get("allowedAgentIds")
        agents = None
        if allowed is not None and "*" not in allowed:
            agents = frozenset(a.strip().lower() for a in allowed if a.strip())
        prefixes = cleaned.get("allowedSessionKeyPrefixes")
        return cls(
            token=token,
            base_path=cleaned.get("path", DEFAULT_PATH),
            max_body_bytes=int(cleaned.get("maxBodyBytes", DEFAULT_MAX_BODY_BYTES)),
            mappings=mappings_resolve(cleaned.get("mappings") or [], cleaned.get("presets") or ()),
            allowed_agent_ids=agents,
            default_session_key=cleaned.get("defaultSessionKey"),
            allow_request_session_key=bool(cleaned.get("allowRequestSessionKey")),
            allowed_prefixes=tuple(prefixes) if prefixes else None,
        )

    def sub_path(self, path: str) -> str | None:
        """The part of a request path after the base path ("" for the base itself), or None
        when the path is not under it."""
        if path == self.base_path:
            return ""
        if path.startswith(self.base_path + "/"):
            return path[len(self.base_path) :].strip("/")
        return None

    def agent_allowed(self, agent_id: str | None, *, known: Callable[[str], bool]) -> bool:
        """OpenClaw's ``isHookAgentAllowed``: an unknown id counts as the default agent."""
        if not agent_id or self.allowed_agent_ids is None:
            return True
        return self.target_agent(agent_id, known=known) in self.allowed_agent_ids

    def target_agent(self, agent_id: str | None, *, known: Callable[[str], bool]) -> str | None:
        """The agent an ``agentId`` routes to: itself when it exists, else the default
        agent (None), as OpenClaw's ``resolveHookTargetAgentId``."""
        if not agent_id:
            return None
        wanted = agent_id.strip().lower()
        return wanted if known(wanted) else None

    def session_key(
        self,
        requested: str | None,
        *,
        source: str,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> str:
        """The session key of an agent hook (``source``: "request" or "mapping")."""
        prefixes = self.allowed_prefixes
        requested = (requested or "").strip() or None
        if requested:
            if source == "request" and not self.allow_request_session_key:
                raise HookError(SESSION_KEY_REQUEST_ERROR)
            if prefixes and not requested.lower().startswith(prefixes):
                raise HookError(f"sessionKey must start with one of: {', '.join(prefixes)}")
            return requested
        if self.default_session_key:
            return self.default_session_key
        return f"hook:{new_id()}"


# --- payloads --------------------------------------------------------------------------------
@dataclass(frozen=True)
class WakeAction:
    text: str
    mode: str = "now"


@dataclass(frozen=True)
class AgentAction:
    message: str
    name: str = "Hook"
    agent_id: str | None = None
    wake_mode: str = "now"
    session_key: str | None = None
    deliver: bool = True
    channel: str = "last"
    to: str | None = None
    model: str | None = None
    thinking: str | None = None
    timeout_seconds: int | None = None
    allow_unsafe_external_content: bool = False


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value.strip() or None if isinstance(value, str) else None


def wake_normalize(payload: Mapping[str, Any]) -> WakeAction:
    """``POST <path>/wake``'s body: ``{text, mode?}``; raise HookError."""
    text = _text(payload, "text")
    if not text:
        raise HookError("text required")
    return WakeAction(text, "next-heartbeat" if payload.get("mode") == "next-heartbeat" else "now")


def channel_normalize(raw: Any, channels: Collection[str]) -> str:
    """``last`` (the default) or a channel this gateway has; raise HookError."""
    if raw is None:
        return "last"
    value = raw.strip().lower() if isinstance(raw, str) else ""
    if value != "last" and value not in channels:
        raise HookError(f"channel must be {'|'.join(['last', *sorted(channels)])}")
    return value


def agent_normalize(payload: Mapping[str, Any], *, channels: Collection[str]) -> AgentAction:
    """``POST <path>/agent``'s body (OpenClaw's ``normalizeAgentPayload``); raise HookError."""
    message = _text(payload, "message")
    if not message:
        raise HookError("message required")
    model = _text(payload, "model")
    if payload.get("model") is not None and not model:
        raise HookError("model required")
    raw_timeout = payload.get("timeoutSeconds")
    timeout = None
    if isinstance(raw_timeout, int | float) and not isinstance(raw_timeout, bool):
        timeout = int(raw_timeout) if 0 < raw_timeout < 1e9 else None
    return AgentAction(
        message=message,
        name=_text(payload, "name") or "Hook",
        agent_id=_text(payload, "agentId"),
        wake_mode="next-heartbeat" if payload.get("wakeMode") == "next-heartbeat" else "now",
        session_key=_text(payload, "sessionKey"),
        deliver=payload.get("deliver") is not False,
        channel=channel_normalize(payload.get("channel"), channels),
        to=_text(payload, "to"),
        model=model,
        thinking=_text(payload, "thinking"),
        timeout_seconds=timeout,
    )
