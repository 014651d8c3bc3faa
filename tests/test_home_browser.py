"""The home page in headless Chromium, with and without a Control UI folder.

Skips (or fails under REQUIRE_SERVICES=1) like tests/test_webchat_browser.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.fakes.llm_server import FakeServerProcess
from tests.gateway_process import GatewayProcess
from tests.test_webchat_browser import PHONE, browser, gateway_env, page, pytestmark, shots

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["browser", "page", "pytestmark", "shots"]  # fixtures shared with WebChat's tests


def test_the_home_page_shows_the_gateway_and_links_to_webchat(
    page: Page,
    tmp_path: Path,
    llm: FakeServerProcess,
    gateways: list[GatewayProcess],
    shots: Path,
) -> None:
    gw = GatewayProcess(gateway_env(tmp_path / "data", llm))
    gateways.append(gw)
    gw.start()
    page.goto(f"{gw.url}/")
    assert page.title() == "OpenClaw gateway"
    assert "openclaw-django" in (page.text_content("#state-version") or "")
    assert page.text_content("#state-mode") == "embedded"
    assert page.text_content("#state-agents") == "1"
    assert f"ws://127.0.0.1:{gw.port}" in (page.text_content("#ws-url") or "")
    assert page.locator("a[href='/admin/']").count() == 1
    page.screenshot(path=shots / "home.png", full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=shots / "home-phone.png", full_page=True)
    page.click("#open-webchat")
    page.wait_for_url(f"{gw.url}/chat")
    page.wait_for_selector("#login:not([hidden])")


def test_with_a_control_ui_it_is_at_root_and_home_at_home(
    page: Page,
    tmp_path: Path,
    llm: FakeServerProcess,
    gateways: list[GatewayProcess],
    shots: Path,
) -> None:
    ui = tmp_path / "control-ui"
    (ui / "assets").mkdir(parents=True)
    (ui / "assets" / "app.js").write_text("document.body.dataset.booted = 'yes';")
    (ui / "index.html").write_text(
        "<!doctype html><html><head><title>OpenClaw Control</title>"
        '<script type="module" src="./assets/app.js"></script></head>'
        "<body><h1>Control UI</h1></body></html>"
    )
    env = gateway_env(tmp_path / "data", llm, OPENCLAW_CONTROL_UI_DIR=str(ui))
    gw = GatewayProcess(env)
    gateways.append(gw)
    gw.start()
    page.goto(f"{gw.url}/settings/general")  # a client-side route, deep link
    page.wait_for_selector("body[data-booted='yes']")
    assert page.title() == "OpenClaw Control"
    page.goto(f"{gw.url}/home")
    assert page.title() == "OpenClaw gateway"
    assert page.locator("#open-webchat").get_attribute("href") == "/webchat"
    page.screenshot(path=shots / "home-with-control-ui.png", full_page=True)
    page.click("#open-webchat")
    page.wait_for_selector("#login:not([hidden])")
