// OpenClaw's Control UI, page by page, in headless Chromium (playwright-core).
// Logs in through its form, chats, visits each page of PAGES the way the app navigates
// (history.pushState + popstate, over the one WebSocket), then reloads the chat page.
// Records per page: every RPC request, every error answer, requests left unanswered,
// socket closes, console errors, uncaught page errors, error-looking text on the page,
// and a screenshot. Writes everything as JSON to OUT; exits 0 even when pages fail (the
// test judges), 1 only when the script itself breaks.
//
// env: PLAYWRIGHT, CHROMIUM, UI_URL, GATEWAY_URL, TOKEN, PAGES (JSON [[name, route]...]),
//      SHOTS (a folder), OUT (a file), MESSAGE (the chat message), REPLY (text to wait for)
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require(process.env.PLAYWRIGHT);

const PAGES = JSON.parse(process.env.PAGES);
const SHOTS = process.env.SHOTS;
const MESSAGE = process.env.MESSAGE;
const REPLY = process.env.REPLY;
const SETTLE_QUIET_MS = 700; // a page is settled when no RPC is pending for this long
const SETTLE_MAX_MS = 10000;

const result = { fatal: null, loggedIn: false, chatReplied: false, transcriptAfterReload: null,
  reloadNeededLogin: null, sockets: [], visits: [] };
let current = null;
const pending = new Map(); // request id -> { method, visit, at, ws }

function visit(name, route) {
  current = { name, route, url: null, requests: [], errors: [], unanswered: [], lost: [],
    closes: [], http: [], console: [], pageErrors: [], errorText: [], shot: null, ms: 0 };
  result.visits.push(current);
  return current;
}

function short(value, n = 300) {
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  return s && s.length > n ? `${s.slice(0, n)}…` : s;
}

function watch(page) {
  page.on('websocket', (ws) => {
    const sock = { url: ws.url(), openedOn: current && current.name, closedOn: null };
    result.sockets.push(sock);
    ws.on('framesent', (frame) => {
      let m;
      try { m = JSON.parse(frame.payload); } catch { return; }
      if (m && m.type === 'req') {
        current.requests.push(m.method);
        pending.set(m.id, { method: m.method, visit: current, at: Date.now(), ws });
      }
    });
    ws.on('framereceived', (frame) => {
      let m;
      try { m = JSON.parse(frame.payload); } catch { return; }
      if (!m || m.type !== 'res') return;
      const req = pending.get(m.id);
      if (!req) return;
      // `agent`-style methods answer twice on one id; the first answer settles the request.
      pending.delete(m.id);
      if (m.ok === false) {
        const e = m.error || {};
        req.visit.errors.push({ method: req.method, code: e.code || null,
          message: short(e.message || e, 200) });
      }
    });
    ws.on('close', () => {
      sock.closedOn = current && current.name;
      current.closes.push(ws.url());
      // Requests still open when their socket closed (a reload, or the gateway hanging up):
      // shown with the close, not counted as unanswered.
      for (const [id, p] of pending) {
        if (p.ws === ws) {
          p.visit.lost.push(p.method);
          pending.delete(id);
        }
      }
    });
    ws.on('socketerror', (e) => current.closes.push(`socket error: ${short(String(e))}`));
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') current.console.push(short(msg.text()));
  });
  page.on('pageerror', (e) => current.pageErrors.push(short(String(e))));
  page.on('response', (r) => {
    if (r.status() >= 400) current.http.push(`${r.status()} ${r.request().method()} ${short(r.url(), 160)}`);
  });
  page.on('requestfailed', (r) => {
    current.http.push(`failed ${r.method()} ${short(r.url(), 160)}: ${r.failure() && r.failure().errorText}`);
  });
}

async function settle() {
  const start = Date.now();
  let quietSince = Date.now();
  await new Promise((r) => setTimeout(r, 300));
  while (Date.now() - start < SETTLE_MAX_MS) {
    const busy = [...pending.values()].some((p) => p.visit === current);
    if (busy) quietSince = Date.now();
    else if (Date.now() - quietSince >= SETTLE_QUIET_MS) break;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function finishVisit(page, name) {
  await settle();
  for (const [id, p] of pending) {
    if (p.visit === current) {
      current.unanswered.push(p.method);
      pending.delete(id);
    }
  }
  current.url = page.url();
  // Visible error-looking text (shadow DOM included: playwright's text engine).
  try {
    const texts = await page.locator(
      'text=/unknown method|unavailable|not supported|failed to|error:|cannot read properties|is not a function|did not start/i')
      .filter({ visible: true }).allInnerTexts();
    current.errorText = [...new Set(texts.map((t) => short(t.replace(/\s+/g, ' ').trim(), 160)))].slice(0, 6);
  } catch (e) {
    current.errorText = [`(could not read the page: ${short(String(e), 120)})`];
  }
  const file = path.join(SHOTS, `${String(result.visits.length).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-')}.png`);
  try {
    await page.screenshot({ path: file });
    current.shot = file;
  } catch (e) {
    current.pageErrors.push(`screenshot failed: ${short(String(e))}`);
  }
}

async function loginIfAsked(page) {
  const gate = page.locator('#login-gate-credential');
  const box = page.getByPlaceholder(/^Message /);
  await Promise.race([
    gate.waitFor({ timeout: 20000 }),
    box.first().waitFor({ timeout: 20000 }),
  ]).catch(() => {});
  if (!(await gate.isVisible().catch(() => false))) return false;
  const url = page.locator('#login-gate-url');
  if (await url.isVisible().catch(() => false)) await url.fill(process.env.GATEWAY_URL);
  await gate.fill(process.env.TOKEN);
  await page.click('text=Connect');
  return true;
}

async function navigate(page, route) {
  await page.evaluate((r) => {
    window.history.pushState({}, '', r);
    window.dispatchEvent(new PopStateEvent('popstate'));
  }, route);
}

(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    watch(page);

    // 1. Log in through the form.
    visit('login', '/');
    let t = Date.now();
    await page.goto(process.env.UI_URL, { waitUntil: 'domcontentloaded' });
    await loginIfAsked(page);
    try {
      await page.getByPlaceholder(/^Message /).first().waitFor({ timeout: 20000 });
      result.loggedIn = true;
    } catch (e) {
      result.fatal = `login: no chat box 20 s after Connect (${short(String(e), 160)})`;
    }
    current.ms = Date.now() - t;
    await finishVisit(page, 'login');
    if (!result.loggedIn) return;

    // 2. Each page; the chat page also sends a message and waits for the reply.
    for (const [name, route] of PAGES) {
      visit(name, route);
      t = Date.now();
      await navigate(page, route);
      if (route === '/chat') {
        try {
          const box = page.getByPlaceholder(/^Message /).first();
          await box.waitFor({ timeout: 15000 });
          await box.fill(MESSAGE);
          await page.keyboard.press('Enter');
          await page.getByText(REPLY).first().waitFor({ timeout: 30000 });
          result.chatReplied = true;
        } catch (e) {
          current.pageErrors.push(`chat: no reply "${short(REPLY, 60)}" (${short(String(e), 160)})`);
        }
      }
      await finishVisit(page, name);
      current.ms = Date.now() - t;
    }

    // 3. Reload the chat page: the transcript must come back from the gateway.
    visit('chat after reload', '/chat');
    t = Date.now();
    await navigate(page, '/chat');
    await settle();
    await page.reload({ waitUntil: 'domcontentloaded' });
    result.reloadNeededLogin = await loginIfAsked(page);
    try {
      await page.getByText(MESSAGE, { exact: true }).first().waitFor({ timeout: 20000 });
      result.transcriptAfterReload = true;
    } catch {
      result.transcriptAfterReload = false;
    }
    await finishVisit(page, 'chat-after-reload');
    current.ms = Date.now() - t;
  } finally {
    await browser.close();
    fs.writeFileSync(process.env.OUT, JSON.stringify(result, null, 1));
  }
})().catch((e) => {
  result.fatal = `the tour script broke: ${String(e && e.stack || e)}`;
  try { fs.writeFileSync(process.env.OUT, JSON.stringify(result, null, 1)); } catch {}
  console.error(result.fatal);
  process.exit(1);
});
