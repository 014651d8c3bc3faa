"""The browser pages: home, WebChat, OpenClaw's Control UI served from a folder, and the
``OPENCLAW_CONTROL_UI_DIR`` start-up check.

The home page reads the health summary through ``database_sync_to_async``, which closes
the connection it ran on: those tests use ``transaction=True``.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import resolve

from agents.tests.factories import AgentFactory
from channels_app import views as channel_views
from core.env import check_control_ui_dir
from gateway import origins, state
from gateway.web import control_ui, resources
from tests.gateway_process import child_env, free_port, run_manage

INDEX = """<!doctype html><html><head>
<link rel="icon" href="./favicon.svg">
<script>globalThis.boot = 1;</script>
<script type="module" crossorigin src="./assets/index-abc.js"></script>
</head><body><openclaw-app></openclaw-app></body></html>"""


@pytest.fixture(autouse=True)
def _no_cached_health() -> Any:
    state.health_reset()
    yield
    state.health_reset()


@pytest.fixture
def ui_dir(tmp_path: Path, settings: Any) -> Path:
    """A built Control UI in miniature, configured as settings.CONTROL_UI_DIR."""
    root = tmp_path / "control-ui"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "favicon.svg").write_text("<svg/>")
    (root / "sw.js").write_text("self.x = 1;")
    (root / "assets" / "index-abc.js").write_text("export const app = 1;")
    (root / "assets" / "index-abc.js.gz").write_bytes(gzip.compress(b"export const app = 1;"))
    (root / "assets" / "style-abc.css").write_text("body{}")
    (root / "assets" / "font.woff2").write_bytes(b"wOF2")
    (tmp_path / "secret.txt").write_text("outside the root")
    (root / "assets" / "escape.js").symlink_to(tmp_path / "secret.txt")
    settings.CONTROL_UI_DIR = root.resolve()
    return root


HTML = {"Accept": "text/html,application/xhtml+xml"}


# --- home -------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_home_shows_state_links_and_how_to_connect(client: Client, settings: Any) -> None:
    AgentFactory.create(slug="main", name="Main helper")
    response = client.get("/", HTTP_HOST="127.0.0.1:18789")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="/chat"' in body
    assert 'href="/admin/"' in body
    assert "openclaw-django 0.1.0" in body
    assert f'id="state-mode">{settings.DEPLOYMENT}<' in body  # embedded, or team on PG+Redis
    assert settings.DEPLOYMENT in {"embedded", "team"}
    assert 'id="state-agents">1<' in body
    assert "openclaw gateway call health --url ws://127.0.0.1:18789 --token" in body
    assert "OPENCLAW_GATEWAY_URL=ws://127.0.0.1:18789" in body
    # Names and client addresses are for staff only.
    assert 'id="agents-table"' not in body
    assert "Main helper" not in body
    assert "log in to the admin" in body


@pytest.mark.django_db(transaction=True)
def test_home_lists_agents_and_clients_for_staff(client: Client) -> None:
    staff = get_user_model().objects.create_user("op", password="pw", is_staff=True)
    client.force_login(staff)
    AgentFactory.create(slug="helper", name="Helper <b>agent</b>")
    state.presence_set("c1", {"host": "webchat", "mode": "webchat", "ip": "127.0.0.1", "ts": 1})
    try:
        body = client.get("/home").content.decode()
    finally:
        state.presence_set("c1", None)
    assert 'id="agents-table"' in body
    assert "Helper &lt;b&gt;agent&lt;/b&gt;" in body  # escaped
    assert "<td>webchat</td>" in body


@pytest.mark.django_db(transaction=True)
def test_home_reads_the_cached_health_summary(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    AgentFactory.create(slug="main")
    client.get("/")  # builds the cache
    with django_assert_max_num_queries(0):
        assert client.get("/").status_code == 200


def test_pages_send_a_strict_content_security_policy(client: Client) -> None:
    response = client.get("/chat", HTTP_HOST="127.0.0.1:18789")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "connect-src 'self' ws://127.0.0.1:18789 wss://127.0.0.1:18789" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "no-referrer"


# --- WebChat ----------------------------------------------------------------------------
def test_webchat_page_loads_its_own_module_and_styles(client: Client) -> None:
    response = client.get("/chat")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<script type="module" src="/static/webchat/app.js">' in body
    assert 'href="/static/webchat/style.css"' in body
    assert 'data-auth-mode="token"' in body
    assert 'data-max-payload="26214400"' in body
    assert "<script>" not in body  # no inline script: the CSP forbids them
    assert client.get("/webchat").status_code == 200


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/webchat/app.js", "text/javascript"),
        ("/static/webchat/markdown.js", "text/javascript"),
        ("/static/webchat/style.css", "text/css"),
    ],
)
def test_webchat_assets_are_served_by_whitenoise(
    client: Client, path: str, content_type: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)


def test_the_markdown_renderer_never_uses_html_parsing() -> None:
    folder = Path(__file__).resolve().parents[1] / "static" / "webchat"
    for script in folder.glob("*.js"):
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{script.name} uses {sink}"


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_pages_answer_only_get_and_head(client: Client, method: str) -> None:
    assert getattr(client, method)("/chat").status_code == 405


# --- existing routes stay ------------------------------------------------------------------
def test_existing_routes_are_untouched(client: Client, ui_dir: Path) -> None:
    assert client.get("/health").json()["ok"] is True
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/admin", headers=HTML).status_code == 301  # APPEND_SLASH still works
    assert resolve("/telegram-webhook").func is channel_views.webhook
    assert resolve("/telegram-webhook/bot1").func is channel_views.webhook


# A POST reads the webhook configuration first (hooks.path could be any path).
@pytest.mark.django_db
def test_without_a_control_ui_unknown_paths_are_404(client: Client) -> None:
    assert client.get("/settings/general", headers=HTML).status_code == 404
    assert client.get("/assets/index.js").status_code == 404
    assert client.post("/whatever").status_code == 404


# --- the Control UI -----------------------------------------------------------------------
def test_control_ui_index_at_root_with_absolute_assets_and_its_csp(
    client: Client, ui_dir: Path
) -> None:
    response = client.get("/", headers=HTML)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<openclaw-app>" in body
    assert 'src="/assets/index-abc.js"' in body
    assert 'href="/favicon.svg"' in body
    csp = response["Content-Security-Policy"]
    expected = control_ui.index_page(ui_dir.resolve())
    assert expected is not None
    assert len(expected.script_hashes) == 1
    assert f"'{expected.script_hashes[0]}'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["Cache-Control"] == "no-cache"


@pytest.mark.django_db(transaction=True)
def test_with_a_control_ui_home_moves_to_home_and_webchat_to_webchat(
    client: Client, ui_dir: Path
) -> None:
    home = client.get("/home")
    assert home.status_code == 200
    assert 'href="/webchat"' in home.content.decode()
    # /chat is the Control UI's chat page now (a client-side route).
    assert "<openclaw-app>" in client.get("/chat", headers=HTML).content.decode()
    assert "WebChat" in client.get("/webchat").content.decode()


@pytest.mark.parametrize(
    "path", ["/chat", "/settings/general", "/sessions/agent:main:main", "/new"]
)
def test_client_side_routes_get_the_index(client: Client, ui_dir: Path, path: str) -> None:
    response = client.get(path, headers=HTML)
    assert response.status_code == 200
    assert "<openclaw-app>" in response.content.decode()


@pytest.mark.parametrize(
    ("path", "content_type", "cache"),
    [
        ("/assets/index-abc.js", "application/javascript", control_ui.IMMUTABLE),
        ("/assets/style-abc.css", "text/css", control_ui.IMMUTABLE),
        ("/assets/font.woff2", "font/woff2", control_ui.IMMUTABLE),
        ("/favicon.svg", "image/svg+xml", "no-cache"),
        ("/__openclaw__/sw.js", "application/javascript", "no-cache"),
        # A deep link's relative asset URL resolves to the same file.
        ("/settings/assets/index-abc.js", "application/javascript", control_ui.IMMUTABLE),
    ],
)
def test_assets_have_their_content_types(
    client: Client, ui_dir: Path, path: str, content_type: str, cache: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200, path
    assert response["Content-Type"].startswith(content_type)
    assert response["Cache-Control"] == cache
    assert response["X-Content-Type-Options"] == "nosniff"


def test_precompressed_assets_are_served_when_accepted(client: Client, ui_dir: Path) -> None:
    response = client.get("/assets/index-abc.js", HTTP_ACCEPT_ENCODING="gzip, br;q=0")
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.content) == b"export const app = 1;"
    plain = client.get("/assets/index-abc.js")
    assert "Content-Encoding" not in plain
    assert plain.content == b"export const app = 1;"
    assert client.get("/assets/index-abc.js.gz").status_code == 404


def test_a_missing_asset_is_404_not_the_index(client: Client, ui_dir: Path) -> None:
    assert client.get("/assets/missing.js", headers=HTML).status_code == 404
    assert client.get("/logo.png", headers=HTML).status_code == 404
    # A non-browser request for a route is not answered with HTML either.
    assert client.get("/settings/general", HTTP_ACCEPT="application/json").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/assets/..%5c..%5csecret.txt",
        "/assets/escape.js",  # a symlink out of the root
        "/.hidden",
        "/assets/%00.js",
        "/etc/passwd",
        "//etc/passwd",
    ],
)
def test_traversal_attempts_never_leave_the_root(client: Client, ui_dir: Path, path: str) -> None:
    response = client.get(path)
    assert b"outside the root" not in response.content
    assert response.status_code in (404, 400)


@pytest.mark.parametrize(
    "path",
    [
        "/control-ui-config.json",  # what the UI of 2026.9 asks for
        "/__openclaw/control-ui-config.json",  # OpenClaw's older path
        "/__openclaw__/control-ui-config.json",  # its namespace alias
    ],
)
def test_the_control_ui_bootstrap_config(client: Client, ui_dir: Path, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["basePath"] == ""
    assert body["assistantAgentId"]
    assert (body["assistantAvatar"], body["assistantAvatarStatus"]) == (None, "none")


# --- the Control UI's resource routes -------------------------------------------------------
def test_an_agent_avatar_is_404_and_its_meta_says_there_is_none(client: Client) -> None:
    # No Control UI configured: the UI served from elsewhere still asks the gateway.
    assert client.get("/avatar/main").status_code == 404
    assert client.head("/avatar/main").status_code == 404
    meta = client.get("/avatar/main?meta=1")
    assert meta.status_code == 200
    assert meta.json() == {
        "avatarUrl": None,
        "avatarSource": None,
        "avatarStatus": "none",
        "avatarReason": "missing",
    }
    # The same answer for any id: no oracle of which agents exist; bad ids are plain 404s.
    assert client.get("/avatar/nobody?meta=1").json() == meta.json()
    assert client.get("/avatar/..%2Fx?meta=1").status_code == 404
    assert client.post("/avatar/main").status_code == 405


@pytest.mark.django_db(transaction=True)  # the policy loads via database_sync_to_async
def test_avatar_cors_only_for_configured_allowed_origins(client: Client, settings: Any) -> None:
    page = "http://127.0.0.1:5173"
    # No allowed origins (OpenClaw's rule for avatars): a loopback page gets no CORS.
    settings.GATEWAY_ALLOWED_ORIGINS = []
    origins.forget()
    refused = client.options(
        "/avatar/main", headers={"Origin": page, "Access-Control-Request-Method": "GET"}
    )
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused
    assert "Access-Control-Allow-Origin" not in client.get("/avatar/main", headers={"Origin": page})
    # An allowed origin gets a preflight and the answer, for itself only.
    settings.GATEWAY_ALLOWED_ORIGINS = [page]
    origins.forget()
    preflight = client.options(
        "/avatar/main", headers={"Origin": page, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == page
    assert preflight["Access-Control-Allow-Headers"] == "Authorization"
    assert preflight["Access-Control-Allow-Methods"] == "GET, HEAD"
    answer = client.get("/avatar/main", headers={"Origin": page})
    assert (answer.status_code, answer["Access-Control-Allow-Origin"]) == (404, page)
    other = client.get("/avatar/main", headers={"Origin": "http://127.0.0.1:9999"})
    assert "Access-Control-Allow-Origin" not in other
    origins.forget()


@pytest.mark.django_db(transaction=True)
def test_the_workspace_icon_is_the_first_conventional_favicon(
    client: Client, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    AgentFactory(slug="iconic", workspace=str(workspace))  # type: ignore[no-untyped-call]
    resources._icon_cache.clear()
    url = "/__openclaw__/workspace-icon/agent%3Aiconic%3Amain"
    workspace.mkdir()
    assert client.get(url).status_code == 404  # none of OpenClaw's paths exists
    resources._icon_cache.clear()
    (workspace / "public").mkdir()
    (workspace / "public" / "favicon.png").write_bytes(b"\x89PNG icon")
    (workspace / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (workspace / "notes.md").write_text("private")
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"  # favicon.svg comes first
    assert "sandbox" in response["Content-Security-Policy"]
    assert response.content.startswith(b"<svg")
    for other in ("agent%3Anobody%3Amain", "not-a-session-key", "..%2F..%2Fetc%2Fpasswd"):
        assert client.get(f"/__openclaw__/workspace-icon/{other}").status_code == 404
    assert client.post(url).status_code == 405
    resources._icon_cache.clear()


def test_head_of_an_asset_has_no_body(client: Client, ui_dir: Path) -> None:
    response = client.head("/assets/style-abc.css")
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Length"] == "6"


@pytest.mark.django_db  # a POST reads the webhook configuration first
def test_the_control_ui_refuses_writes(client: Client, ui_dir: Path) -> None:
    assert client.post("/settings/general").status_code == 405


# --- OPENCLAW_CONTROL_UI_DIR ----------------------------------------------------------------
def test_a_blank_control_ui_dir_is_none() -> None:
    assert check_control_ui_dir("OPENCLAW_CONTROL_UI_DIR", "") is None


def test_a_good_control_ui_dir_is_resolved(ui_dir: Path) -> None:
    assert check_control_ui_dir("X", str(ui_dir)) == ui_dir.resolve()


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "file").write_text("x") and p / "file", "is not a directory"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "has no index.html"),
    ],
    ids=["missing", "file", "no-index"],
)
def test_a_bad_control_ui_dir_is_refused(tmp_path: Path, make: Any, needle: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ImproperlyConfigured, match=needle) as info:
        check_control_ui_dir("OPENCLAW_CONTROL_UI_DIR", str(path))
    assert "dist/control-ui" in str(info.value)


@pytest.mark.process
def test_a_bad_control_ui_dir_stops_start_up_in_one_line_writing_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = child_env(data, OPENCLAW_CONTROL_UI_DIR=str(tmp_path / "nowhere"))
    result = run_manage("gateway", "--port", str(free_port()), env=env)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: OPENCLAW_CONTROL_UI_DIR=")
    assert "does not exist" in lines[0]
    assert not data.exists()
