"""Set the configuration by OpenClaw path: each root goes to the app that owns it.

- ``gateway.trustedProxies`` (a list of addresses or CIDR networks),
  ``gateway.controlUi.allowedOrigins`` (a list of browser origins) and
  ``gateway.controlUi.dangerouslyAllowHostHeaderOriginFallback`` (true/false) are kept
  here (``gateway.models.ConfigEntry``);
- ``hooks.*``, ``gateway.http.*``, ``gateway.tools.*`` → ``gateway.http_config``;
- ``channels.*`` → ``channels_app.services.config`` (channel accounts);
- ``session.dmScope``, ``session.identityLinks``, ``session.reset`` →
  ``sessions_app.services.session_settings_set``;
- ``bindings`` (the whole list) → ``agents.services.bindings.bindings_replace``;
- every ``agents.*`` path → ``agents.services.config``.

One transaction: a patch that fails anywhere changes nothing. An unknown root is named
with the closest known one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from agents.services.bindings import bindings_replace
from agents.services.config import ConfigError, parse_path
from agents.services.config import config_patch as agents_config_patch
from agents.services.config import config_set as agents_config_set
from channels_app.lib.account_keys import closest
from channels_app.services.config import channels_config_patch, channels_config_set
from gateway import http_config, listen, origins, proxies
from gateway.models import ConfigEntry
from sessions_app.services import SessionError, session_settings_set

# gateway.port, gateway.bind and gateway.customBindHost take effect at the next start.
GATEWAY_PATHS = (proxies.CONFIG_PATH, *origins.CONFIG_PATHS, *listen.PATHS)
LISTEN_KEYS = {path.rsplit(".", 1)[1]: path for path in listen.PATHS}
CONTROL_UI_KEYS = {path.rsplit(".", 1)[1]: path for path in origins.CONFIG_PATHS}
# session.<key> → session_settings_set's argument.
SESSION_KEYS = {"dmScope": "dm_scope", "identityLinks": "identity_links", "reset": "reset"}
ROOTS = ("agents", "bindings", "channels", "gateway", "hooks", "session")
ALSO_SETTABLE = (
    f"{', '.join(GATEWAY_PATHS)}, channels.<kind>.<key>, channels.<kind>.accounts.<id>.<key>, "
    f"{', '.join(f'session.{k}' for k in SESSION_KEYS)}, bindings"
)


def _string_list(value: Any, *, path: str, takes: str) -> list[str]:
    """A list of strings, or a comma-separated string of them; else a ConfigError."""
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{path} takes {takes}")
    return value


def _trusted_proxies(value: Any) -> list[str] | None:
    if value is None:
        return None
    value = _string_list(
        value,
        path=proxies.CONFIG_PATH,
        takes='a list of addresses or networks, e.g. ["127.0.0.1", "10.0.0.0/24"]',
    )
    try:
        proxies.parse_networks(value)
    except ValueError as exc:
        raise ConfigError(f"{proxies.CONFIG_PATH}: {exc}") from None
    return [item.strip() for item in value]


def _allowed_origins(value: Any) -> list[str] | None:
    if value is None:
        return None
    value = _string_list(
        value,
        path=origins.ALLOWED_ORIGINS_PATH,
        takes='a list of browser origins, e.g. ["http://192.168.1.20:5173", '
        '"https://gateway.example.com"]',
    )
    try:
        return origins.validate_allowed_origins(value)
    except ValueError as exc:
        raise ConfigError(f"{origins.ALLOWED_ORIGINS_PATH}: {exc}") from None


def _host_fallback(value: Any) -> bool | None:
    if value is None or value is False:
        return None  # off is the default: nothing stored
    if value is not True:
        raise ConfigError(
            f"{origins.HOST_FALLBACK_PATH} takes true or false (it lets any page whose "
            "origin matches the Host header in, DNS rebinding included; prefer "
            f"{origins.ALLOWED_ORIGINS_PATH})"
        )
    return True


def _gateway_value(path: str, value: Any) -> Any:
    """Validate the value of one of ``GATEWAY_PATHS`` (None: reset it)."""
    if path == proxies.CONFIG_PATH:
        return _trusted_proxies(value)
    if path == origins.ALLOWED_ORIGINS_PATH:
        return _allowed_origins(value)
    if path in listen.PATHS:
        return listen.validate(path, value)
    return _host_fallback(value)


def _store(path: str, value: Any) -> None:
    if value is None:
        ConfigEntry.objects.filter(path=path).delete()
    else:
        ConfigEntry.objects.update_or_create(path=path, defaults={"value": value})
    transaction.on_commit(proxies.forget)
    transaction.on_commit(origins.forget)


def _gateway_patch(patch: Any) -> list[str]:
    """``gateway`` of a merge patch: its settable keys only."""
    if not isinstance(patch, Mapping):
        raise ConfigError("gateway must be an object, e.g. {trustedProxies: ['127.0.0.1']}")
    control_ui = patch.get("controlUi")
    if control_ui is not None and not isinstance(control_ui, Mapping):
        raise ConfigError(
            "gateway.controlUi must be an object, e.g. "
            "{allowedOrigins: ['http://192.168.1.20:5173']}"
        )
    top = ("trustedProxies", "controlUi", *LISTEN_KEYS)
    unknown = sorted(f"gateway.{k}" for k in patch if k not in top)
    unknown += sorted(
        f"gateway.controlUi.{k}" for k in control_ui or {} if k not in CONTROL_UI_KEYS
    )
    if unknown:
        raise ConfigError(
            f"cannot set {', '.join(unknown)} here; of gateway.*, only "
            f"{', '.join(GATEWAY_PATHS)} can be set. The rest is managed in the admin."
        )
    changes = {CONTROL_UI_KEYS[k]: v for k, v in (control_ui or {}).items()}
    if "trustedProxies" in patch:
        changes[proxies.CONFIG_PATH] = patch["trustedProxies"]
    changes.update({LISTEN_KEYS[k]: patch[k] for k in LISTEN_KEYS if k in patch})
    values = {path: _gateway_value(path, value) for path, value in changes.items()}
    for path, value in values.items():  # all validated before anything is stored
        _store(path, value)
    return sorted(values)


def _gateway_set(dotted: str, value: Any) -> list[str] | None:
    """``config set`` of a ``gateway.*`` path kept here; None when it is not one."""
    if dotted in GATEWAY_PATHS:
        _store(dotted, _gateway_value(dotted, value))
        return [dotted]
    if dotted == "gateway.controlUi":  # unset resets both keys
        reset = dict.fromkeys(CONTROL_UI_KEYS)
        return _gateway_patch({"controlUi": value if value is not None else reset})
    if dotted.startswith("gateway.controlUi."):
        return _gateway_patch({"controlUi": {dotted.split(".", 2)[2]: value}})
    return None


def _session(changes: Mapping[str, Any]) -> list[str]:
    unknown = [key for key in changes if key not in SESSION_KEYS]
    if unknown:
        guess = closest(str(unknown[0]), SESSION_KEYS)
        hint = f"; did you mean session.{guess}?" if guess else ""
        raise ConfigError(
            f"cannot set session.{unknown[0]} here{hint} Settable: "
            f"{', '.join(f'session.{k}' for k in SESSION_KEYS)}."
        )
    try:
        session_settings_set(**{SESSION_KEYS[key]: value for key, value in changes.items()})
    except SessionError as exc:
        raise ConfigError(exc.message) from None
    return [f"session.{key}" for key in changes]


def _session_set(parts: list[str | int], value: Any) -> list[str]:
    if len(parts) == 1:
        if value is None or not isinstance(value, Mapping):
            raise ConfigError("session takes an object, e.g. {dmScope: 'per-channel-peer'}")
        return _session(value)
    if len(parts) > 2 and parts[1] in SESSION_KEYS:
        raise ConfigError(
            f"set session.{parts[1]} as a whole, e.g. config set session.reset "
            "'{mode: \"daily\", atHour: 4}'"
        )
    return _session({str(parts[1]): value})


def _bindings(value: Any) -> list[str]:
    bindings_replace([] if value is None else value)
    return ["bindings"]


def _unknown_root(root: str) -> ConfigError:
    guess = closest(root, ROOTS)
    hint = f"did you mean {guess}? " if guess else ""
    return ConfigError(
        f"{root} is not a config section that can be set here; {hint}"
        f"settable: {', '.join(ROOTS)} (see config get)"
    )


@transaction.atomic
def config_set(path: str, value: Any) -> list[str]:
    """Set one config path (``value=None``: reset it); return the paths changed."""
    parts = parse_path(path)
    root = parts[0]
    if http_config.owns(path):  # hooks.*, gateway.http.*, gateway.tools.*
        return http_config.config_set(path, value)
    changed = _gateway_set(".".join(str(p) for p in parts), value)
    if changed is not None:
        return changed
    if root == "channels":
        return channels_config_set(parts, value)
    if root == "session":
        return _session_set(parts, value)
    if root == "bindings":
        if len(parts) > 1:
            raise ConfigError(
                "set bindings as a whole list, e.g. config set bindings "
                '\'[{"agentId": "main", "match": {"channel": "telegram"}}]\''
            )
        return _bindings(value)
    if root not in ROOTS:
        raise _unknown_root(str(root))
    try:
        agents_config_set(path, value)
    except ConfigError as exc:
        raise ConfigError(f"{exc.message} Also settable: {ALSO_SETTABLE}.") from None
    return [path]


@transaction.atomic
def config_patch(patch: Any) -> list[str]:
    """Apply a JSON merge patch; return the paths changed (all or nothing)."""
    if not isinstance(patch, Mapping):
        return agents_config_patch(patch)  # its error says what a patch looks like
    changed: list[str] = []
    rest = dict(patch)
    for root in rest:
        if root not in ROOTS:
            raise _unknown_root(str(root))
    if "channels" in rest:
        changed.extend(channels_config_patch(rest.pop("channels")))
    if "session" in rest:
        session = rest.pop("session")
        if not isinstance(session, Mapping):
            raise ConfigError("session must be an object, e.g. {dmScope: 'per-channel-peer'}")
        changed.extend(_session(session))
    if "bindings" in rest:
        changed.extend(_bindings(rest.pop("bindings")))
    if "hooks" in rest:
        http_config.apply(http_config.HOOKS_PATH, rest.pop("hooks"))
        changed.append("hooks")
    gateway_patch = rest.pop("gateway", None)
    if isinstance(gateway_patch, Mapping):  # gateway.http and gateway.tools
        gateway_patch, http_changed = http_config.gateway_patch_split(gateway_patch)
        changed.extend(http_changed)
    if gateway_patch is not None:
        changed.extend(_gateway_patch(gateway_patch))
    if rest.get("agents") is not None or not changed:
        changed.extend(agents_config_patch(rest))
    return changed
