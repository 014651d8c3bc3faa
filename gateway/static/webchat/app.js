// WebChat: log in, list and switch sessions, send, stream, abort, reconnect and catch up.

import { GatewayClient, GatewayError, formatBytes, randomId } from "./client.js";
import { Transcript } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const store = window.sessionStorage; // this tab only: never localStorage or a cookie
const SECRET_KEY = "openclaw.webchat.secret";
const KIND_KEY = "openclaw.webchat.kind";
const SESSION_KEY = "openclaw.webchat.session";
const INSTANCE_KEY = "openclaw.webchat.instance";

const transcript = new Transcript();
let client = null;
let mainKey = "main";
let historyBusy = false;
let historyAgain = false;
let sessionsTimer = null;

function banner(text, kind = "error") {
  const el = $("banner");
  if (!text) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  el.hidden = false;
  el.className = `banner ${kind}`;
  el.textContent = text;
}

function setConn(state, text) {
  const el = $("conn-state");
  el.dataset.state = state;
  el.textContent = state;
  el.title = text || state;
  if (state === "offline" && text) banner(text, "warn");
  if (state === "online" && $("banner").classList.contains("warn")) banner(null);
}

function showLogin(message) {
  $("chat").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  const err = $("login-error");
  err.hidden = !message;
  err.textContent = message || "";
  $("secret").focus();
}

function showChat() {
  $("login").hidden = true;
  $("chat").hidden = false;
  $("logout").hidden = false;
}

function credentials() {
  const kind = store.getItem(KIND_KEY) === "password" ? "password" : "token";
  return { [kind]: store.getItem(SECRET_KEY) || "" };
}

function authMessage(err) {
  const code = err.details?.code;
  const kind = store.getItem(KIND_KEY) === "password" ? "password" : "token";
  if (code === "AUTH_UNAUTHORIZED" || /unauthori[sz]ed/i.test(err.message)) {
    return `The gateway did not accept this ${kind}. Check it and try again.`;
  }
  if (code === "AUTH_RATE_LIMITED") {
    const wait = err.retryAfterMs ? ` Try again in ${Math.ceil(err.retryAfterMs / 1000)} s.` : "";
    return `Too many failed attempts from this address.${wait}`;
  }
  if (/origin not allowed/i.test(err.message)) {
    return `This page's origin is not allowed by the gateway: ${err.message}`;
  }
  return `The gateway refused the connection: ${err.message}`;
}

function render() {
  transcript.render($("transcript"));
  const active = transcript.activeRunIds();
  $("abort").hidden = active.length === 0;
  const list = $("transcript");
  list.scrollTop = list.scrollHeight;
  $("session-title").textContent = transcript.sessionKey || "";
}

/** Load the session's history: all of it (`full`) or what came after our cursor. */
async function loadHistory({ full }) {
  if (!client?.connected) return;
  if (historyBusy) {
    historyAgain = true;
    return;
  }
  historyBusy = true;
  const key = transcript.sessionKey || mainKey;
  try {
    const params = { sessionKey: key };
    if (!full && transcript.cursor) params.deltaCursor = transcript.cursor;
    const payload = await client.request("chat.history", params);
    if ((transcript.sessionKey || mainKey) === key || payload.sessionKey === transcript.sessionKey) {
      transcript.applyHistory(payload, { full: full || !params.deltaCursor });
      store.setItem(SESSION_KEY, transcript.sessionKey);
      render();
    }
  } catch (err) {
    banner(`Could not load the history: ${err.message}`);
  } finally {
    historyBusy = false;
  }
  if (historyAgain) {
    historyAgain = false;
    await loadHistory({ full: false });
  }
}

function sessionName(row) {
  return row.label || row.displayName || row.derivedTitle || row.key;
}

async function loadSessions() {
  if (!client?.connected) return;
  try {
    const payload = await client.request("sessions.list", { limit: 50, includeLastMessage: true });
    const ul = $("session-list");
    const items = [];
    const rows = payload.sessions || [];
    if (transcript.sessionKey && !rows.some((r) => r.key === transcript.sessionKey)) {
      rows.unshift({ key: transcript.sessionKey });
    }
    for (const row of rows) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "session";
      button.dataset.key = row.key;
      if (row.key === transcript.sessionKey) button.setAttribute("aria-current", "true");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = sessionName(row);
      button.appendChild(name);
      if (row.lastMessagePreview) {
        const preview = document.createElement("span");
        preview.className = "preview";
        preview.textContent = row.lastMessagePreview;
        button.appendChild(preview);
      }
      button.addEventListener("click", () => switchSession(row.key));
      li.appendChild(button);
      items.push(li);
    }
    ul.replaceChildren(...items);
  } catch (err) {
    banner(`Could not list the sessions: ${err.message}`);
  }
}

function loadSessionsSoon() {
  clearTimeout(sessionsTimer);
  sessionsTimer = setTimeout(loadSessions, 300);
}

async function switchSession(key) {
  toggleSessions(false);
  transcript.reset(key);
  store.setItem(SESSION_KEY, key);
  render();
  await loadHistory({ full: true });
  loadSessions();
  $("message").focus();
}

function onEvent(frame) {
  const payload = frame.payload || {};
  if (frame.event === "chat") {
    if (payload.sessionKey !== transcript.sessionKey) {
      if (payload.state === "final") loadSessionsSoon();
      return;
    }
    const { fresh, done } = transcript.onChat(payload);
    render();
    // A run started elsewhere (another tab, the CLI): fetch its user message.
    if (fresh || done) loadHistory({ full: false });
    if (done) loadSessionsSoon();
  } else if (frame.event === "agent" && payload.stream === "tool") {
    if (payload.sessionKey !== transcript.sessionKey) return;
    transcript.onTool(payload);
    render();
  } else if (frame.event === "shutdown") {
    banner("The gateway is shutting down; WebChat reconnects when it is back.", "warn");
  }
}

async function send(text) {
  const runId = randomId();
  const run = transcript.addLocalRun(runId, text);
  render();
  try {
    const res = await client.request("chat.send", {
      sessionKey: transcript.sessionKey || mainKey,
      message: text,
      idempotencyKey: runId,
    });
    // An in-chat command (/status ...) answers at once and is not kept in the transcript.
    if (res && res.status === "ok") run.ephemeral = true;
    if (res && res.aborted !== undefined) {
      run.ephemeral = true;
      run.done = true;
    }
    banner(null);
  } catch (err) {
    run.failed = err instanceof GatewayError ? err.message : `${err.message}`;
    banner(`Message not sent: ${run.failed}`);
  }
  render();
}

function toggleSessions(open) {
  const app = $("app");
  const show = open ?? !app.classList.contains("sessions-open");
  app.classList.toggle("sessions-open", show);
  $("toggle-sessions").setAttribute("aria-expanded", String(show));
}

function connect() {
  if (client) client.stop();
  let instanceId = store.getItem(INSTANCE_KEY);
  if (!instanceId) {
    instanceId = randomId();
    store.setItem(INSTANCE_KEY, instanceId);
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  client = new GatewayClient(
    { url: `${scheme}://${location.host}/`, auth: credentials, instanceId },
    {
      onStatus: setConn,
      onHello: async (hello, reconnected) => {
        showChat();
        mainKey = hello.snapshot?.sessionDefaults?.mainSessionKey || "main";
        if (!transcript.sessionKey) transcript.reset(store.getItem(SESSION_KEY) || mainKey);
        // Catch up from the history: runs we were streaming are in it (or will stream on).
        transcript.dropLiveRuns();
        if (reconnected) banner("Reconnected; caught up from the history.", "info");
        await loadHistory({ full: true });
        loadSessions();
      },
      onEvent,
      onAuthError: (err) => {
        store.removeItem(SECRET_KEY);
        setConn("offline", "refused");
        banner(null);
        showLogin(authMessage(err));
      },
      onProtocolError: (text) => banner(text),
      onGap: (from, to) => {
        banner(`Missed events ${from + 1}–${to - 1}; catching up from the history.`, "warn");
        loadHistory({ full: true });
      },
    },
  );
  client.start();
}

function init() {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const secret = $("secret").value;
    if (!secret) return;
    const kind = new FormData(ev.target).get("kind") === "password" ? "password" : "token";
    store.setItem(KIND_KEY, kind);
    store.setItem(SECRET_KEY, secret);
    $("secret").value = "";
    $("login-error").hidden = true;
    connect();
  });
  $("logout").addEventListener("click", () => {
    store.removeItem(SECRET_KEY);
    client?.stop();
    client = null;
    setConn("offline", "logged out");
    banner(null);
    showLogin("");
  });
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const box = $("message");
    const text = box.value;
    if (!text.trim()) return;
    if (!client?.connected) {
      banner("Not connected to the gateway; your message is still in the box.", "warn");
      return;
    }
    const size = new TextEncoder().encode(text).length;
    if (size > client.maxPayload) {
      banner(`This message is ${formatBytes(size)}; the gateway accepts frames up to ${formatBytes(client.maxPayload)}. Nothing was sent.`);
      return;
    }
    box.value = "";
    send(text);
  });
  $("message").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("abort").addEventListener("click", async () => {
    for (const runId of transcript.activeRunIds()) {
      try {
        await client.request("chat.abort", { sessionKey: transcript.sessionKey, runId });
      } catch (err) {
        banner(`Could not stop the run: ${err.message}`);
      }
    }
  });
  $("toggle-sessions").addEventListener("click", () => toggleSessions());
  $("new-session").addEventListener("click", () => {
    const agent = (mainKey.match(/^agent:([^:]+):/) || [])[1] || "main";
    switchSession(`agent:${agent}:webchat-${randomId().slice(0, 8)}`);
  });
  // For tests and debugging: what the gateway answers to a frame as it is.
  window.webchatDebug = { sendRaw: (text) => client?.sendRaw(text) };

  if (store.getItem(SECRET_KEY)) connect();
  else showLogin("");
}

init();
