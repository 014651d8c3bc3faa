"""Set gateway-level configuration by OpenClaw path, in front of ``agents.services.config``.

``gateway.trustedProxies`` (a list of addresses or CIDR networks) is kept here; every
``agents.*`` path goes on to ``agents.services.config``. One transaction: a patch that
fails anywhere changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from agents.services.config import ConfigError, parse_path
from agents.services.config import config_patch as agents_config_patch
from agents.services.config import config_set as agents_config_set
from gateway import proxies
from gateway.models import ConfigEntry

GATEWAY_PATHS = (proxies.CONFIG_PATH,)


def _trusted_proxies(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(
            f'{proxies.CONFIG_PATH} takes a list of addresses or networks, e.g. ["127.0.0.1", '
            '"10.0.0.0/24"]'
        )
    try:
        proxies.parse_networks(value)
    except ValueError as exc:
        raise ConfigError(f"{proxies.CONFIG_PATH}: {exc}") from None
    return [item.strip() for item in value]


def _store(path: str, value: Any) -> None:
    if value is None:
        ConfigEntry.objects.filter(path=path).delete()
    else:
        ConfigEntry.objects.update_or_create(path=path, defaults={"value": value})
    transaction.on_commit(proxies.forget)


@transaction.atomic
def config_set(path: str, value: Any) -> None:
    """Set one config path (``value=None``: reset it); see the module docstring."""
    parts = parse_path(path)
    if [str(p) for p in parts] == proxies.CONFIG_PATH.split("."):
        _store(proxies.CONFIG_PATH, _trusted_proxies(value))
        return
    try:
        agents_config_set(path, value)
    except ConfigError as exc:
        raise ConfigError(f"{exc.message} Also settable: {', '.join(GATEWAY_PATHS)}.") from None


@transaction.atomic
def config_patch(patch: Any) -> list[str]:
    """Apply a JSON merge patch; return the paths changed (all or nothing)."""
    if not isinstance(patch, Mapping):
        return agents_config_patch(patch)  # its error says what a patch looks like
    changed: list[str] = []
    rest = dict(patch)
    gateway_patch = rest.pop("gateway", None)
    if gateway_patch is not None:
        if not isinstance(gateway_patch, Mapping):
            raise ConfigError("gateway must be an object, e.g. {trustedProxies: ['127.0.0.1']}")
        unknown = sorted(f"gateway.{k}" for k in gateway_patch if k != "trustedProxies")
        if unknown:
            raise ConfigError(
                f"cannot set {', '.join(unknown)} here; of gateway.*, only "
                f"{', '.join(GATEWAY_PATHS)} can be set. The rest is managed in the admin."
            )
        if "trustedProxies" in gateway_patch:
            _store(proxies.CONFIG_PATH, _trusted_proxies(gateway_patch["trustedProxies"]))
            changed.append(proxies.CONFIG_PATH)
    if rest or not changed:
        changed.extend(agents_config_patch(rest))
    return changed
