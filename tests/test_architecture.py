"""The code's shape, checked: no import cycle, no oversized module.

The layers between apps are import-linter's job (``lint-imports`` in ./scripts/test,
contract in pyproject.toml); these tests cover what a layers contract does not see: a
cycle inside one app, and a module that grew into a grab-bag again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("openclaw_site", "gateway", "channels_app", "agents", "pairing", "sessions_app", "core")
MAX_LINES = 400


def _production(module: str) -> bool:
    parts = module.split(".")
    return "tests" not in parts and "migrations" not in parts


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    modules = sorted(m for m in graph.modules if _production(m))
    edges = {
        m: sorted(d for d in graph.find_modules_directly_imported_by(m) if _production(d))
        for m in modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            successors = edges.get(node, [])
            if i < len(successors):
                work.append((node, i + 1))
                nxt = successors[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_no_import_cycle_between_modules() -> None:
    """Function-local imports count too: a cycle hidden in a function body is one."""
    assert _cycles() == []


def test_no_production_module_over_400_lines() -> None:
    too_long = {}
    for package in (*PACKAGES, "bench"):
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT)
            if {"tests", "migrations"} & set(relative.parts):
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                too_long[str(relative)] = lines
    assert too_long == {}, f"split these along a real seam: {too_long}"


def test_embedded_start_loads_no_client_it_does_not_use() -> None:
    """What the embedded gateway imports at start stays lean (idle RSS on a 1 GB Pi):
    the Redis client is team mode's, the model SDKs load on a turn's first model call,
    JSON5 on the first config.patch."""
    code = (
        "import sys, django\n"
        "django.setup()\n"
        "from channels.routing import get_default_application\n"
        "get_default_application()\n"
        "import gateway.methods, gateway.embedded, gateway.management.commands.gateway\n"
        "from celery import current_app\n"
        "current_app.loader.import_default_modules()\n"
        "print(' '.join(m for m in ('redis', 'channels_redis', 'anthropic', 'openai', 'json5')"
        " if m in sys.modules))\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATABASE_URL", "OPENCLAW_GATEWAY_TOKEN")
    }
    env["DJANGO_SETTINGS_MODULE"] = "openclaw_site.settings"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == ""
