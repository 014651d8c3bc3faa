"""OpenClaw's own Control UI (2026.9.6), page by page, in headless Chromium.

The tour (tests/control_ui/pages.js, driven by playwright-core with Node 24) logs in through
the UI's form (Gateway URL, Gateway secret), chats, visits the 23 pages that need no
internet the way the app navigates (one WebSocket), and reloads the chat page. Per page it
records every RPC, every error answer (unknown method and the rest), requests left
unanswered, console errors and a screenshot. The tests then ask: no error answer, uncaught
page error, console error, failed HTTP request or error text on any page (less the EXPECTED
ones, which OpenClaw's own gateway shows too), and the transcript is back after the reload.

Two ways the UI is served:
- ``loopback-port``: from another loopback port (a static server, as ``python -m
  http.server`` or a dev server), with no allowed-origins setting: OpenClaw accepts a local
  client with a loopback origin;
- ``gateway``: by the gateway itself from ``OPENCLAW_CONTROL_UI_DIR``.

Screenshots, the raw record (tour.json) and the summary (summary.txt) go to
CONTROL_UI_ARTIFACTS/<variant> when that is set, else to the test's tmp folder; the summary
is printed, and is the failure message. Needs the clients of scripts/install_clients.sh:
skips with one line without them, or fails under REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
from django.conf import settings

from tests.control_ui import CONTROL_UI, HERE, missing_browser, run_node, static_server
from tests.gateway_process import GatewayProcess, child_env

pytestmark = [pytest.mark.process, pytest.mark.timeout(420)]

TOKEN = "control-ui-pages-token-0123456789abcdef"
MESSAGE = "hello from the page tour"
REPLY = f"Placeholder reply (the offline placeholder/echo model): {MESSAGE}"

# The 23 pages that need no internet, by the routes of the UI's own table (`oc={settings:
# {path:"/settings"}, chat:{path:"/chat"}, ...}` in dist/control-ui/assets/control-ui-core-*.js).
PAGES: list[tuple[str, str]] = [
    ("chat", "/chat"),
    ("agents", "/agents"),
    ("sessions", "/sessions"),
    ("new session", "/new"),
    ("dashboards", "/dashboards"),
    ("systems", "/systems"),
    ("automations", "/automations"),
    ("usage", "/usage"),
    ("logs", "/logs"),
    ("debug", "/debug"),
    ("tasks", "/tasks"),
    ("activity", "/activity"),
    ("settings: general", "/settings/general"),
    ("settings: connection", "/settings/connection"),
    ("settings: agents", "/settings/agents"),
    ("settings: channels", "/settings/channels"),
    ("settings: devices", "/settings/devices"),
    ("settings: approvals", "/settings/approvals"),
    ("settings: automation", "/settings/automation"),
    ("settings: advanced", "/settings/advanced"),
    ("settings: model providers", "/settings/model-providers"),
    ("settings: updates", "/settings/updates"),
    ("settings: about", "/settings/about"),
]

_NO_UI_DIR_SETTING = not hasattr(settings, "CONTROL_UI_DIR")
VARIANTS = [
    pytest.param("loopback-port", id="loopback-port"),
    pytest.param(
        "gateway",
        id="gateway",
        marks=pytest.mark.xfail(
            _NO_UI_DIR_SETTING, reason="needs OPENCLAW_CONTROL_UI_DIR", strict=False
        ),
    ),
]


# Failures the UI meets against OpenClaw's own gateway too, each with why; anything else on
# a page fails the test: (record kind, pattern, variant or None for both, reason).
EXPECTED: list[tuple[str, str, str | None, str]] = [
    (
        "console",
        r"^Failed to load resource: ",
        None,
        "the browser's line for a failed request, which the http record judges",
    ),
    (
        "http",
        r"^404 GET \S+/avatar/[^/?]+$",
        None,
        "agents here have no avatar image; OpenClaw answers 404 for an agent without a "
        "local avatar file, and the UI shows the agent's initial",
    ),
    (
        "http",
        r"^404 GET \S+/__openclaw__/workspace-icon/[^/?]+$",
        None,
        "the agent workspace has no favicon; OpenClaw answers 404 too and the UI shows "
        "its folder icon",
    ),
    (
        "http",
        r"^404 GET http://127\.0\.0\.1:\d+/control-ui-config\.json$",
        "loopback-port",
        "a static server has no bootstrap config; the UI falls back to its defaults",
    ),
    (
        "http",
        r"^failed GET http://127\.0\.0\.1:\d+/avatar/[^/?]+: net::ERR_FAILED$",
        "loopback-port",
        "no allowed origins are configured, and OpenClaw grants avatar CORS to those only",
    ),
    (
        "console",
        r"^Access to fetch at 'http://127\.0\.0\.1:\d+/avatar/[^']+' from origin "
        r"'http://127\.0\.0\.1:\d+' has been blocked by CORS policy",
        "loopback-port",
        "the same avatar request, as the browser reports it",
    ),
    ("errorText", r'^"unavailable"$', None, "a value in the Debug page's status snapshot"),
    (
        "errorText",
        r"^unavailable \(no small model\)$",
        None,
        "Appearance: no small model is configured for session titles",
    ),
    (
        "errorText",
        r"^Applied when the UI prompt is unavailable\.$",
        None,
        "a setting's description on the Devices page",
    ),
]
# From the loopback port the UI first tries a WebSocket to its own origin (a static server).
# Requests still in flight when the reload visit reloads the page are cancelled by it.
RELOAD = "chat after reload"
_ABORTED = re.compile(r"^failed GET \S+: net::ERR_ABORTED$")
_OWN_ORIGIN_WS = re.compile(r"^WebSocket connection to 'ws://127\.0\.0\.1:\d+/' failed")


class Tour:
    """The record of one run of pages.js, and its summary."""

    def __init__(self, variant: str, record: dict[str, Any], folder: Path, log: str) -> None:
        self.variant = variant
        self.record = record
        self.folder = folder
        self.log = log
        self.visits: list[dict[str, Any]] = record.get("visits", [])

    def expected(self, visit: dict[str, Any], kind: str, item: str) -> bool:
        """Whether a recorded failure is one OpenClaw's own gateway shows too (EXPECTED)."""
        return any(
            kind == k and (variant is None or variant == self.variant) and re.search(rx, item)
            for k, rx, variant, _why in EXPECTED
        ) or (
            (visit["name"] == "login" and kind == "console" and bool(_OWN_ORIGIN_WS.search(item)))
            or (visit["name"] == RELOAD and kind == "http" and bool(_ABORTED.search(item)))
        )

    def problems(self, visit: dict[str, Any]) -> list[str]:
        """Error answers, unanswered requests, uncaught page errors, console errors, failed
        HTTP requests and error text on the page, less the EXPECTED ones. On the login page
        the UI first tries to connect without the secret (served by the gateway) or to its
        own origin: a refused ``connect`` there is what makes it show the form."""
        errors = [
            e
            for e in visit["errors"]
            if not (visit["name"] == "login" and e["method"] == "connect")
        ]
        found = [f"{e['method']}: {e['code']} {e['message']}" for e in errors] + [
            f"{m}: NO ANSWER" for m in visit["unanswered"]
        ]
        for kind, label in (
            ("pageErrors", "page error"),
            ("console", "console"),
            ("http", "http"),
            ("errorText", "shows"),
        ):
            found += [
                f"{label}: {item}" for item in visit[kind] if not self.expected(visit, kind, item)
            ]
        return found

    def bad_visits(self) -> list[dict[str, Any]]:
        return [v for v in self.visits if self.problems(v)]

    def summary(self) -> str:
        pages = [v for v in self.visits if v["name"] in dict(PAGES)]
        clean = [v for v in pages if not self.problems(v)]
        lines = [
            f"Control UI tour ({self.variant}): {len(clean)} of {len(PAGES)} pages clean (every "
            f"RPC answered, no page, console, HTTP or on-page error); logged in: {self.record.get('loggedIn')}, chat reply shown: "
            f"{self.record.get('chatReplied')}, transcript after reload: "
            f"{self.record.get('transcriptAfterReload')}"
            + (
                " (the reload asked to log in again)"
                if self.record.get("reloadNeededLogin")
                else ""
            ),
        ]
        if self.record.get("fatal"):
            lines.append(f"FATAL: {self.record['fatal']}")
        if len(pages) < len(PAGES):
            lines.append(f"only {len(pages)} of {len(PAGES)} pages were visited")
        lines.append(f"{'page':<27} {'route':<27} {'RPCs':>4}  error answers / unanswered")
        for v in self.visits:
            problems = self.problems(v)
            lines.append(
                f"{v['name']:<27} {v['route']:<27} {len(v['requests']):>4}  "
                + ("; ".join(problems) if problems else "ok")
            )
            if v["url"] and not v["url"].split("?")[0].endswith(v["route"]):
                lines.append(f"{'':<27} -> the UI went to {v['url']}")
            if v["name"] == "login":
                lines.extend(
                    f"{'':<27} refused before the form (expected): {e['message']}"
                    for e in v["errors"]
                    if e["method"] == "connect"
                )
            for label, key in (
                ("closed", "closes"),
                ("lost when its socket closed", "lost"),
                ("http", "http"),
                ("page error", "pageErrors"),
                ("console", "console"),
                ("shows", "errorText"),
            ):
                lines.extend(f"{'':<27} {label}: {item}" for item in v[key][:4])
        failing = Counter(
            method for v in self.visits for method in {p.split(":", 1)[0] for p in self.problems(v)}
        )
        if failing:
            lines.append(
                f"{len(failing)} methods answered with an error or not at all (pages): "
                + ", ".join(f"{m} ({n})" for m, n in sorted(failing.items()))
            )
        lines.append(f"screenshots and tour.json: {self.folder}")
        if self.log.strip():
            lines.append(f"node output: {self.log.strip()[-1500:]}")
        return "\n".join(lines)


def _artifacts(variant: str, tmp: Path) -> Path:
    root = os.environ.get("CONTROL_UI_ARTIFACTS")
    folder = Path(root) / variant if root else tmp / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _tour(variant: str, ui_url: str, gateway: GatewayProcess, folder: Path) -> Tour:
    out = folder / "tour.json"
    out.unlink(missing_ok=True)
    result = run_node(
        HERE / "pages.js",
        {
            "HOME": str(folder.parent),
            "UI_URL": ui_url,
            "GATEWAY_URL": f"ws://127.0.0.1:{gateway.port}",
            "TOKEN": TOKEN,
            "PAGES": json.dumps(PAGES),
            "SHOTS": str(folder),
            "OUT": str(out),
            "MESSAGE": MESSAGE,
            "REPLY": REPLY,
        },
        timeout=360,
    )
    log = result.stderr + result.stdout
    record = json.loads(out.read_text()) if out.exists() else {"fatal": "no tour.json written"}
    tour = Tour(variant, record, folder, log)
    (folder / "summary.txt").write_text(tour.summary() + "\n")
    sys.stdout.write(tour.summary() + "\n")
    return tour


@pytest.fixture(scope="module", params=VARIANTS)
def tour(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    skip_or_fail: Callable[[str], NoReturn],
) -> Tour:
    if (missing := missing_browser()) is not None:
        skip_or_fail(missing)
    variant: str = request.param
    tmp = tmp_path_factory.mktemp(f"control-ui-{variant}")
    folder = _artifacts(variant, tmp)
    env = child_env(tmp / "data", OPENCLAW_GATEWAY_TOKEN=TOKEN)
    env.pop("OPENCLAW_GATEWAY_ALLOWED_ORIGINS", None)
    env.pop("OPENCLAW_CONTROL_UI_DIR", None)
    if variant == "gateway":
        env["OPENCLAW_CONTROL_UI_DIR"] = str(CONTROL_UI)
        with GatewayProcess(env) as gw:
            result = _tour(variant, gw.url + "/", gw, folder)
    else:
        with static_server(CONTROL_UI) as origin, GatewayProcess(env) as gw:
            result = _tour(variant, origin + "/", gw, folder)
    return result


def test_every_page_answers_every_rpc_without_error(tour: Tour) -> None:
    assert tour.record.get("loggedIn"), tour.summary()
    assert tour.record.get("chatReplied"), tour.summary()
    assert len([v for v in tour.visits if v["name"] in dict(PAGES)]) == len(PAGES), tour.summary()
    assert not tour.bad_visits(), tour.summary()


def test_the_transcript_shows_after_a_reload(tour: Tour) -> None:
    assert tour.record.get("transcriptAfterReload"), tour.summary()
