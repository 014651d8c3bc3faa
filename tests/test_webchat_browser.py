"""WebChat in headless Chromium against a live gateway and the fake OpenAI server.

Log in, send, watch the reply stream, a tool call folded, sessions listed and switched,
a reconnect after a gateway restart with nothing shown twice, a wrong token refused, an
HTML/Markdown injection shown as text, and the page's answer to an oversized or a
malformed frame. Screenshots go to $SCREENSHOT_DIR (default: the test's tmp dir).

Needs the Python ``playwright`` package and Debian's ``/usr/bin/chromium`` (never
``playwright install``). Without them the tests skip with one line; with
``REQUIRE_SERVICES=1`` (CI) their absence is a failure (``conftest.skip_or_fail``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from tests.fakes.llm_server import FakeServerProcess, FakeToolCall, Text, ToolCalls
from tests.gateway_process import GatewayProcess, child_env

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

pytestmark = pytest.mark.process

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TOKEN = "webchat-browser-token-0123456789abcdef"
API_KEY = "sk-test-webchat-0123456789abcdef"
PHONE: ViewportSize = {"width": 390, "height": 844}


def missing_browser() -> str | None:
    """What is missing to drive Chromium, or None."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium ({CHROMIUM})")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python playwright package")
    return f"{' and '.join(missing)} not installed" if missing else None


@pytest.fixture(scope="module")
def browser(skip_or_fail: Callable[[str], NoReturn]) -> Iterator[Browser]:
    reason = missing_browser()
    if reason is not None:
        skip_or_fail(reason)  # conftest: skip with one line, fail under REQUIRE_SERVICES=1
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], errors


def gateway_env(data: Path, llm: FakeServerProcess, **extra: str) -> dict[str, str]:
    return child_env(
        data,
        OPENCLAW_GATEWAY_TOKEN=TOKEN,
        OPENCLAW_MODEL="openai/gpt-4o-mini",
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL=llm.base_url,
        **extra,
    )


@pytest.fixture
def gateway(
    tmp_path: Path, llm: FakeServerProcess, gateways: list[GatewayProcess]
) -> GatewayProcess:
    gw = GatewayProcess(gateway_env(tmp_path / "data", llm))
    gateways.append(gw)
    return gw.start()


def log_in(page: Page, gw: GatewayProcess, secret: str = TOKEN) -> None:
    page.goto(f"{gw.url}/chat")
    page.fill("#secret", secret)
    page.click("#login-submit")


def logged_in(page: Page, gw: GatewayProcess) -> None:
    log_in(page, gw)
    page.wait_for_selector("#chat:not([hidden])")
    page.wait_for_selector("#conn-state[data-state='online']")


def send(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.keyboard.press("Enter")


def wait_text(page: Page, selector: str, text: str, timeout_ms: float = 20_000) -> None:
    page.wait_for_function(
        "([sel, text]) => [...document.querySelectorAll(sel)].some(e => e.textContent.includes(text))",
        arg=[selector, text],
        timeout=timeout_ms,
    )


def count_text(page: Page, selector: str, text: str) -> int:
    return int(
        page.evaluate(
            "([sel, text]) => [...document.querySelectorAll(sel)].filter(e => e.textContent.includes(text)).length",
            [selector, text],
        )
    )


def test_log_in_send_stream_a_reply_with_a_tool_call_and_switch_sessions(
    page: Page, gateway: GatewayProcess, llm: FakeServerProcess, shots: Path
) -> None:
    call = FakeToolCall(name="read", arguments={"path": "notes.md"}, id="call-1")
    words = "The notes file does not exist yet, so here is a plan: **one**, two, three."
    llm.script(ToolCalls((call,), text="Let me look."), Text(words, chunks=8, delay_s=0.25))
    logged_in(page, gateway)
    assert page.evaluate("sessionStorage.getItem('openclaw.webchat.secret')") == TOKEN
    assert page.evaluate("localStorage.length") == 0
    send(page, "Read my notes")

    # The reply streams: the live bubble shows growing partial text before the final.
    seen: set[str] = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        live = page.query_selector_all(".msg.assistant[data-live='true'] .md")
        if live:
            seen.add(live[-1].text_content() or "")
        if count_text(page, ".msg.assistant:not([data-live])", "three.") == 1:
            break
        time.sleep(0.05)
    partial = {text for text in seen if text and "three." not in text}
    assert len(partial) >= 2, seen
    page.screenshot(path=shots / "webchat-reply.png", full_page=True)

    tool = page.locator("details.tool")
    assert tool.count() == 1
    assert "Tool call: read" in (tool.locator("summary").text_content() or "")
    assert tool.get_attribute("open") is None  # folded
    assert not page.locator("details.tool pre.tool-args").is_visible()
    tool.locator("summary").click()
    assert "notes.md" in (page.locator("details.tool pre.tool-args").text_content() or "")
    assert page.locator(".msg.assistant strong", has_text="one").count() == 1
    page.screenshot(path=shots / "webchat-tool-open.png", full_page=True)

    # A new session, then back to the first from the list.
    page.click("#new-session")
    page.wait_for_function(
        "document.querySelector('#session-title').textContent.includes('webchat-')"
    )
    assert page.locator("#transcript .msg").count() == 0
    send(page, "second session")
    wait_text(page, ".msg.assistant:not([data-live])", "echo: second session")
    page.wait_for_function("document.querySelectorAll('#session-list button').length === 2")
    page.click("#session-list button[data-key='agent:main:main']")
    wait_text(page, ".msg.user", "Read my notes")
    assert count_text(page, ".msg", "second session") == 0

    # A phone-sized screen: no sideways scrolling, the session list is a drawer.
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.wait_for_timeout(300)
    assert page.evaluate("document.querySelector('#sessions').getBoundingClientRect().right") <= 0
    page.screenshot(path=shots / "webchat-phone.png")
    page.click("#toggle-sessions")
    page.wait_for_timeout(300)
    assert page.evaluate("document.querySelector('#sessions').getBoundingClientRect().left") >= 0
    page.screenshot(path=shots / "webchat-phone-sessions.png")


def test_a_reconnect_after_a_gateway_restart_shows_nothing_twice(
    page: Page,
    tmp_path: Path,
    llm: FakeServerProcess,
    gateways: list[GatewayProcess],
    shots: Path,
) -> None:
    env = gateway_env(tmp_path / "data", llm)
    first = GatewayProcess(env)
    gateways.append(first)
    first.start()
    logged_in(page, first)
    send(page, "before the restart")
    wait_text(page, ".msg.assistant:not([data-live])", "echo: before the restart")

    first.stop()
    page.wait_for_selector("#conn-state[data-state='offline']", timeout=10_000)
    wait_text(page, "#banner", "Disconnected")
    page.screenshot(path=shots / "webchat-disconnected.png")
    second = GatewayProcess(env, port=first.port)
    gateways.append(second)
    second.start()
    page.wait_for_selector("#conn-state[data-state='online']", timeout=30_000)
    wait_text(page, "#banner", "Reconnected")

    send(page, "after the restart")
    wait_text(page, ".msg.assistant:not([data-live])", "echo: after the restart")
    page.wait_for_timeout(500)  # any late catch-up has landed
    for text in ("before the restart", "after the restart"):
        assert count_text(page, ".msg.user", text) == 1, text
        assert count_text(page, ".msg.assistant", f"echo: {text}") == 1, text
    assert page.locator("#transcript .msg").count() == 4
    page.screenshot(path=shots / "webchat-after-restart.png", full_page=True)


def test_a_wrong_token_is_refused_with_a_clear_message(
    page: Page, gateway: GatewayProcess, shots: Path
) -> None:
    log_in(page, gateway, secret="not-the-right-token-at-all")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "did not accept this token" in (page.text_content("#login-error") or "")
    assert page.is_hidden("#chat")
    assert page.evaluate("sessionStorage.getItem('openclaw.webchat.secret')") is None
    page.screenshot(path=shots / "webchat-wrong-token.png")


def test_html_and_markdown_injection_is_shown_as_text(
    page: Page, gateway: GatewayProcess, llm: FakeServerProcess, shots: Path
) -> None:
    reply = (
        'Look: <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>\n\n'
        "[click me](javascript:window.__pwned=3) and [docs](https://example.org/docs)\n\n"
        "- item **bold**\n- `<b>code</b>`\n\n```\n<iframe src=x></iframe>\n```"
    )
    llm.script(Text(reply, chunks=3))
    logged_in(page, gateway)
    send(page, '<b>hi</b><img src=x onerror="window.__pwned=4"> **not bold**')
    wait_text(page, ".msg.assistant:not([data-live])", "item bold")
    transcript = page.locator("#transcript")
    assert page.evaluate("window.__pwned") is None
    for tag in ("img", "script", "iframe", "b"):
        assert transcript.locator(tag).count() == 0, tag
    assert transcript.locator("a[href^='javascript']").count() == 0
    assert transcript.locator("a[href='https://example.org/docs']").count() == 1
    assert transcript.locator("li strong", has_text="bold").count() == 1
    assert '<img src=x onerror="window.__pwned=1">' in (transcript.text_content() or "")
    assert "[click me](javascript:window.__pwned=3)" in (transcript.text_content() or "")
    user = page.locator(".msg.user").text_content() or ""
    assert '<b>hi</b><img src=x onerror="window.__pwned=4"> **not bold**' in user
    assert transcript.locator("pre code", has_text="<iframe src=x></iframe>").count() == 1
    page.screenshot(path=shots / "webchat-injection.png", full_page=True)


def test_an_oversized_or_malformed_frame_is_explained(
    page: Page, gateway: GatewayProcess, shots: Path
) -> None:
    logged_in(page, gateway)
    page.evaluate("document.querySelector('#message').value = 'x'.repeat(26 * 1024 * 1024)")
    page.click("#send")
    wait_text(page, "#banner", "accepts frames up to 25.0 MB")
    assert "Nothing was sent" in (page.text_content("#banner") or "")
    page.evaluate("window.webchatDebug.sendRaw('{not json')")
    wait_text(page, "#banner", "The gateway refused a frame: invalid request frame")
    page.screenshot(path=shots / "webchat-bad-frame.png")
    # Still connected and usable.
    assert page.get_attribute("#conn-state", "data-state") == "online"
    page.fill("#message", "")
    send(page, "still here")
    wait_text(page, ".msg.assistant:not([data-live])", "echo: still here")
