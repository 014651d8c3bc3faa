"""The configuration of the gateway's HTTP APIs: ``hooks.*``, ``gateway.http.*``, ``gateway.tools.*``.

Kept in ``gateway.models.ConfigEntry`` rows, one per root: ``hooks`` (OpenClaw's hooks
object, its ``token`` Fernet-encrypted under ``tokenEncrypted`` and never shown back:
``config.get`` shows ``__OPENCLAW_REDACTED__``), ``gateway.http``
(``endpoints.chatCompletions.{enabled, maxBodyBytes}``,
``endpoints.responses.{enabled, maxBodyBytes}``) and ``gateway.tools`` (``allow``,
``deny``: the HTTP tool deny list of ``POST /tools/invoke``).

``config set`` / ``config.patch`` reach these through ``gateway.config_service``; a
value is validated whole (``gateway.lib.hooks``) before anything is stored. What a
request needs is cached here for ``TTL_S`` (a change made in this process applies at
once; one made on another host within ``TTL_S``), like ``gateway.proxies``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from agents.services.config import ConfigError, parse_path
from channels_app.lib.account_keys import REDACTED
from core import crypto
from core.ttlcache import TTLCache
from gateway.http.common import db
from gateway.lib import hooks as hooks_lib
from gateway.lib.tokens import STRENGTH_RULE, secret_is_strong, token_hash
from gateway.models import ConfigEntry, GatewayToken

logger = logging.getLogger(__name__)

HOOKS_PATH = "hooks"
HTTP_PATH = "gateway.http"
TOOLS_PATH = "gateway.tools"
STORED_PATHS = (HOOKS_PATH, HTTP_PATH, TOOLS_PATH)
TOKEN_FIELD = "tokenEncrypted"  # noqa: S105  (a key name, not a secret)
TTL_S = 10.0
ENDPOINTS = ("chatCompletions", "responses")
# OpenClaw's body caps: 1 MiB for chat completions, 20 MB for /v1/responses.
DEFAULT_MAX_BODY = {"chatCompletions": 1024 * 1024, "responses": 20 * 1024 * 1024}
MAX_BODY_LIMIT = 64 * 1024 * 1024
SETTABLE = (
    "hooks, hooks.<key> (enabled, token, path, maxBodyBytes, allowedAgentIds, "
    "defaultSessionKey, allowRequestSessionKey, allowedSessionKeyPrefixes, mappings, presets), "
    "gateway.http.endpoints.chatCompletions.enabled, gateway.http.endpoints.responses.enabled "
    "(and .maxBodyBytes), gateway.tools.allow, gateway.tools.deny"
)


@dataclass(frozen=True)
class HttpSettings:
    """What the HTTP endpoints need of the configuration (cached)."""

    chat_completions: bool = False
    responses: bool = False
    chat_max_body: int = DEFAULT_MAX_BODY["chatCompletions"]
    responses_max_body: int = DEFAULT_MAX_BODY["responses"]
    tools_allow: tuple[str, ...] = ()
    tools_deny: tuple[str, ...] = ()
    hooks: hooks_lib.HooksPolicy | None = None  # None: webhooks are off

    @property
    def openai_enabled(self) -> bool:
        return self.chat_completions or self.responses


# --- reading ---------------------------------------------------------------------------------
def _stored() -> dict[str, Any]:
    return dict(
        ConfigEntry.objects.filter(path__in=STORED_PATHS).values_list("path", "value")
    )  # one query for the three rows


def _hooks_policy(raw: Any) -> hooks_lib.HooksPolicy | None:
    if not isinstance(raw, Mapping) or raw.get("enabled") is not True:
        return None
    try:
        token = crypto.decrypt(str(raw.get(TOKEN_FIELD) or ""))
        return hooks_lib.HooksPolicy.from_cleaned(raw, token=token)
    except (crypto.DecryptionError, hooks_lib.HookError, ValueError) as exc:
        # Fail closed: a row that cannot be read (a changed encryption key, an edit by
        # hand) turns the webhooks off, and says so.
        logger.warning("webhooks are off: the stored hooks configuration is unusable: %s", exc)
        return None


def _endpoint(raw: Any, name: str) -> Mapping[str, Any]:
    endpoints = raw.get("endpoints") if isinstance(raw, Mapping) else None
    entry = endpoints.get(name) if isinstance(endpoints, Mapping) else None
    return entry if isinstance(entry, Mapping) else {}


# The hooks path last loaded (the default before): whether a GET may be for the webhooks,
# known without a query (a Control UI page load must not read the configuration).
_hooks_base: list[str] = [hooks_lib.DEFAULT_PATH]


def _load() -> HttpSettings:
    stored = _stored()
    http, tools = stored.get(HTTP_PATH), stored.get(TOOLS_PATH)
    tools = tools if isinstance(tools, Mapping) else {}
    chat, responses = _endpoint(http, "chatCompletions"), _endpoint(http, "responses")
    hooks = _hooks_policy(stored.get(HOOKS_PATH))
    if hooks is not None:
        _hooks_base[0] = hooks.base_path
    return HttpSettings(
        chat_completions=chat.get("enabled") is True,
        responses=responses.get("enabled") is True,
        chat_max_body=int(chat.get("maxBodyBytes") or DEFAULT_MAX_BODY["chatCompletions"]),
        responses_max_body=int(responses.get("maxBodyBytes") or DEFAULT_MAX_BODY["responses"]),
        tools_allow=tuple(tools.get("allow") or ()),
        tools_deny=tuple(tools.get("deny") or ()),
        hooks=hooks,
    )


_cache: TTLCache[str, HttpSettings] = TTLCache("gateway.http_config", ttl_s=TTL_S, max_entries=1)
_KEY = "settings"


def current() -> HttpSettings:
    """The HTTP settings (cached for a few seconds; may query the database)."""
    return _cache.get_or_load(_KEY, _load)


async def ready() -> HttpSettings:
    """``current()`` from async code: no thread hop while the cache is fresh."""
    found, value = _cache.lookup(_KEY)
    if found and value is not None:
        return value
    return await db(current)


def maybe_hooks_path(path: str) -> bool:
    """Whether ``path`` is under the hooks path last loaded (or the default): no query."""
    base = _hooks_base[0]
    return path == base or path.startswith(base + "/")


def forget() -> None:
    """Drop the cache (after a change in this process, and in tests)."""
    _cache.clear()


# --- config.get ------------------------------------------------------------------------------
def document(stored: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(gateway extras, hooks)`` of ``config.get`` from the rows of ``STORED_PATHS``:
    effective values, the hooks token as the redaction marker when set."""
    http = stored.get(HTTP_PATH)
    endpoints = {
        name: {
            "enabled": _endpoint(http, name).get("enabled") is True,
            "maxBodyBytes": int(
                _endpoint(http, name).get("maxBodyBytes") or DEFAULT_MAX_BODY[name]
            ),
        }
        for name in ENDPOINTS
    }
    tools = stored.get(TOOLS_PATH)
    tools = tools if isinstance(tools, Mapping) else {}
    gateway = {
        "http": {"endpoints": endpoints},
        "tools": {"allow": list(tools.get("allow") or []), "deny": list(tools.get("deny") or [])},
    }
    raw = stored.get(HOOKS_PATH)
    raw = dict(raw) if isinstance(raw, Mapping) else {}
    has_token = bool(raw.pop(TOKEN_FIELD, None))
    hooks = {
        "enabled": False,
        "path": hooks_lib.DEFAULT_PATH,
        "maxBodyBytes": hooks_lib.DEFAULT_MAX_BODY_BYTES,
        "allowRequestSessionKey": False,
        **raw,
    }
    if has_token:
        hooks["token"] = REDACTED
    return gateway, hooks


# --- writing ---------------------------------------------------------------------------------
def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7396): objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    out = dict(base) if isinstance(base, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _store(path: str, value: Mapping[str, Any] | None) -> None:
    if not value:
        ConfigEntry.objects.filter(path=path).delete()
    else:
        ConfigEntry.objects.update_or_create(path=path, defaults={"value": dict(value)})
    transaction.on_commit(forget)


def _token_check(token: Any) -> str:
    if not isinstance(token, str) or not token.strip():
        raise ConfigError("hooks.token takes a secret string (quote it: '\"…\"')")
    token = token.strip()
    if not secret_is_strong(token):
        raise ConfigError(
            f"hooks.token is too weak: use {STRENGTH_RULE}, e.g. `openssl rand -hex 24`"
        )
    same_password = bool(settings.GATEWAY_PASSWORD) and token == settings.GATEWAY_PASSWORD
    if same_password or GatewayToken.objects.filter(token_hash=token_hash(token)).exists():
        raise ConfigError(
            "hooks.token must differ from the gateway token: a webhook sender must not be "
            "able to act as an operator; generate a dedicated one, e.g. `openssl rand -hex 24`"
        )
    return str(token)


def _hooks_apply(patch: Any) -> None:
    if patch is not None and not isinstance(patch, Mapping):
        raise ConfigError("hooks must be an object, e.g. {enabled: true, token: '…'}")
    row = ConfigEntry.objects.filter(path=HOOKS_PATH).values_list("value", flat=True).first()
    current = dict(row) if isinstance(row, Mapping) else {}
    encrypted = current.pop(TOKEN_FIELD, None)
    if patch is None:  # unset hooks: everything back to the defaults (off)
        _store(HOOKS_PATH, None)
        return
    patch = dict(patch)
    if "token" in patch:
        token = patch.pop("token")
        if token is None:
            encrypted = None
        elif token != REDACTED:  # the marker config.get showed: keep the stored token
            encrypted = crypto.encrypt(_token_check(token))
    merged = _merge(current, patch)
    try:
        cleaned = hooks_lib.hooks_clean(merged, has_token=bool(encrypted))
    except hooks_lib.HookError as exc:
        raise ConfigError(exc.message) from None
    _store(HOOKS_PATH, {**cleaned, **({TOKEN_FIELD: encrypted} if encrypted else {})})


def _body_limit(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_BODY_LIMIT:
        raise ConfigError(f"{where} takes a byte count from 1 to {MAX_BODY_LIMIT}")
    return value


def _http_clean(value: Mapping[str, Any]) -> dict[str, Any]:
    if set(value) - {"endpoints"}:
        raise ConfigError(f"cannot set gateway.http.{sorted(set(value) - {'endpoints'})[0]} here")
    endpoints = value.get("endpoints") or {}
    if not isinstance(endpoints, Mapping) or set(endpoints) - set(ENDPOINTS):
        raise ConfigError(f"gateway.http.endpoints takes {' and '.join(ENDPOINTS)}")
    out: dict[str, Any] = {}
    for name, entry in endpoints.items():
        where = f"gateway.http.endpoints.{name}"
        if not isinstance(entry, Mapping) or set(entry) - {"enabled", "maxBodyBytes"}:
            raise ConfigError(f"{where} takes {{enabled: true|false, maxBodyBytes?}}")
        if "enabled" in entry and not isinstance(entry["enabled"], bool):
            raise ConfigError(f"{where}.enabled takes true or false")
        if "maxBodyBytes" in entry:
            _body_limit(entry["maxBodyBytes"], f"{where}.maxBodyBytes")
        if entry:
            out[name] = dict(entry)
    return {"endpoints": out} if out else {}


def _tools_clean(value: Mapping[str, Any]) -> dict[str, Any]:
    if set(value) - {"allow", "deny"}:
        raise ConfigError("gateway.tools takes {allow: [...], deny: [...]}")
    out: dict[str, Any] = {}
    for key, given in value.items():
        names = (
            [n.strip() for n in given.split(",") if n.strip()] if isinstance(given, str) else given
        )
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f'gateway.tools.{key} takes a list of tool names, e.g. ["exec"]')
        if names:
            out[key] = [n.strip().lower() for n in names]
    return out


def _plain_apply(path: str, patch: Any) -> None:
    if patch is not None and not isinstance(patch, Mapping):
        raise ConfigError(f"{path} must be an object; settable: {SETTABLE}")
    row = ConfigEntry.objects.filter(path=path).values_list("value", flat=True).first()
    merged = _merge(row if isinstance(row, Mapping) else {}, patch) if patch is not None else {}
    clean = _http_clean if path == HTTP_PATH else _tools_clean
    _store(path, clean(merged))


def _root_of(parts: list[str | int]) -> tuple[str, list[str | int]] | None:
    if parts[0] == "hooks":
        return HOOKS_PATH, parts[1:]
    if parts[0] == "gateway" and len(parts) > 1 and parts[1] in ("http", "tools"):
        return f"gateway.{parts[1]}", parts[2:]
    return None


def owns(path: str) -> bool:
    """Whether ``config set`` of this dotted path is handled here."""
    try:
        return _root_of(parse_path(path)) is not None
    except ConfigError:
        return False


def config_set(path: str, value: Any) -> list[str]:
    """Set (``value=None``: reset) one path under hooks, gateway.http or gateway.tools."""
    found = _root_of(parse_path(path))
    assert found is not None, "caller checks owns()"
    root, rest = found
    if any(isinstance(p, int) for p in rest) or (root == HOOKS_PATH and len(rest) > 1):
        raise ConfigError(f"set {root}.{rest[0]} as a whole, e.g. config set hooks.mappings '[…]'")
    patch: Any = value
    for key in reversed(rest):
        patch = {key: patch}  # a None leaf deletes that key (merge patch)
    apply(root, patch)
    return [path]


def apply(root: str, patch: Any) -> None:
    """Merge ``patch`` into one root (``hooks``, ``gateway.http`` or ``gateway.tools``)."""
    if root == HOOKS_PATH:
        _hooks_apply(patch)
    else:
        _plain_apply(root, patch)


def gateway_patch_split(patch: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Apply the ``http`` and ``tools`` keys of a ``gateway`` merge patch; return the rest
    of it (for ``gateway.config_service``) and the paths changed."""
    rest = dict(patch)
    changed = []
    for key in ("http", "tools"):
        if key in rest:
            apply(f"gateway.{key}", rest.pop(key))
            changed.append(f"gateway.{key}")
    return rest, changed
