"""The connectors by channel kind: each ``channels_app/connectors/<kind>/`` package
registers its connector when imported; ``discover`` imports them all once, on first
use (not at start-up: a gateway without channel accounts never loads a platform SDK).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from channels_app.connectors.base import Connector, ConnectorError

_connectors: dict[str, Connector] = {}


def register(connector: Connector) -> None:
    """Register (or replace) the connector of ``connector.info.kind``."""
    _connectors[connector.info.kind] = connector


@functools.cache
def discover() -> None:
    """Import every connector package under ``channels_app.connectors`` (once; two
    threads racing here both import, which Python's import lock makes harmless)."""
    package = importlib.import_module("channels_app.connectors")
    for module in pkgutil.iter_modules(package.__path__):
        if module.ispkg:
            importlib.import_module(f"channels_app.connectors.{module.name}")


def connector_for(kind: str) -> Connector:
    """The connector of a channel kind, or a permanent ``ConnectorError`` naming the
    kinds that have one."""
    discover()
    connector = _connectors.get(kind)
    if connector is None:
        raise ConnectorError(
            f"no connector for channel {kind!r}; channels with a connector: "
            f"{', '.join(sorted(_connectors)) or 'none'}",
            permanent=True,
        )
    return connector


def connector_kinds() -> list[str]:
    """The channel kinds that have a connector, sorted."""
    discover()
    return sorted(_connectors)
