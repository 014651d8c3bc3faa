"""Which keys an OpenClaw config may have, and the closest one to a key that is unknown.

OpenClaw refuses a config with an unknown key (strict validation); so do the import
and ``config.set``, naming the closest known key. The vocabulary is OpenClaw 2026.9.6's
schema (``openclaw_config_keys.json``, written by ``scripts/openclaw_config_keys.py``):
every top-level key, and the full tree of the sections this gateway maps. Added to it:
keys of older releases that OpenClaw still reads and migrates (``agents.list``,
``cron.store``, ``session.idleMinutes``, ``hooks.maxBodyBytes``, the 2026.3 top-level
keys), and the keys of this gateway that OpenClaw does not have (``requireMention`` of a
channel account, ``maxBodyBytes`` of an HTTP endpoint).

Framework-free: no Django import.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gateway.lib.openclaw_source import config_path_join

KEYS_FILE = Path(__file__).with_name("openclaw_config_keys.json")
ANY = "*"  # a free key (an agent id, a chat id, ...)
ITEMS = "[]"  # the items of a list
# OpenClaw 2026.3's top-level keys (openclaw-protocol.md §7) and the legacy ones doctor
# migrates; all are known, none is mapped unless gateway.lib.openclaw_normalize maps it.
_LEGACY_ROOTS = [
    "meta",
    "auth",
    "acp",
    "env",
    "wizard",
    "diagnostics",
    "logging",
    "update",
    "browser",
    "ui",
    "secrets",
    "skills",
    "plugins",
    "models",
    "nodeHost",
    "agents",
    "tools",
    "bindings",
    "broadcast",
    "audio",
    "messages",
    "commands",
    "approvals",
    "session",
    "web",
    "channels",
    "cron",
    "hooks",
    "discovery",
    "canvasHost",
    "talk",
    "gateway",
    "memory",
    "agent",
    "routing",
]
_LEGACY_CRON = ("store", "maxConcurrentRuns", "retry", "webhook", "runLog")


@cache
def known_keys() -> dict[str, Any]:
    """The key tree: a dict per object, ``"*"`` for free keys, ``"[]"`` for list items,
    1 for a value whose inside is not checked."""
    tree: dict[str, Any] = json.loads(KEYS_FILE.read_text(encoding="utf-8"))["keys"]
    for root in _LEGACY_ROOTS:
        tree.setdefault(root, 1)
    agents = tree["agents"]
    entry = dict(agents["entries"][ANY])
    agents["list"] = {ITEMS: {**entry, "id": 1}}
    for key in _LEGACY_CRON:
        tree["cron"].setdefault(key, 1)
    tree["session"].setdefault("idleMinutes", 1)
    tree["hooks"].setdefault("maxBodyBytes", 1)  # 2026.3's, still in config.get
    for endpoint in tree["gateway"]["http"]["endpoints"].values():
        endpoint["maxBodyBytes"] = 1  # this gateway's body cap per endpoint
    telegram = tree["channels"]["telegram"]
    telegram["requireMention"] = 1
    telegram["accounts"][ANY]["requireMention"] = 1
    return tree


def closest(word: str, known: list[str]) -> str | None:
    """The known key nearest to ``word`` (difflib), or None when nothing is close."""
    by_lower = {k.lower(): k for k in known}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


@dataclass(frozen=True)
class UnknownKey:
    path: str
    closest: str | None  # the full path of the closest known key
    known: tuple[str, ...]

    def describe(self) -> str:
        hint = f"did you mean {self.closest}? " if self.closest else ""
        shown = ", ".join(self.known[:12]) + (", ..." if len(self.known) > 12 else "")
        return f"{self.path}: unknown key; {hint}known keys here: {shown}"


def _walk(node: Any, tree: Any, where: str, found: list[UnknownKey]) -> None:
    if not isinstance(tree, dict):
        return
    if isinstance(node, list):
        if ITEMS in tree:
            for index, item in enumerate(node):
                _walk(item, tree[ITEMS], config_path_join(where, index), found)
        return
    named = sorted(k for k in tree if k not in (ANY, ITEMS))
    if not isinstance(node, dict) or (not named and ANY not in tree):
        return  # a type the normalizer refuses, or a value not checked key by key
    for key, value in node.items():
        path = config_path_join(where, str(key))
        if key in tree and key not in (ANY, ITEMS):
            _walk(value, tree[key], path, found)
        elif ANY in tree:
            _walk(value, tree[ANY], path, found)
        else:
            guess = closest(str(key), named)
            found.append(
                UnknownKey(path, config_path_join(where, guess) if guess else None, tuple(named))
            )


def unknown_keys(document: Any) -> list[UnknownKey]:
    """Every key of ``document`` that OpenClaw (or this gateway) does not know."""
    found: list[UnknownKey] = []
    _walk(document, known_keys(), "", found)
    return found
