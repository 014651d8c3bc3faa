"""Imports the built-in tool modules once, so each registers its tools."""

from __future__ import annotations

import importlib

BUILTIN_MODULES = (
    "agents.tools.fs",
    "agents.tools.exec",
    "agents.tools.web",
    "agents.tools.memory",
    "agents.tools.messaging",
    "agents.tools.cron",
)
_loaded = False


def load_builtin_tools() -> None:
    global _loaded  # noqa: PLW0603  (imported once per process)
    if _loaded:
        return
    for name in BUILTIN_MODULES:
        importlib.import_module(name)
    _loaded = True
