// One session's transcript: persisted messages from chat.history plus the runs streaming
// now. The history is the truth; a live run is only shown until the history holds it.
//
// No message is shown twice: history messages are keyed by their id (`__openclaw.id`,
// else seq), so a reload or catch-up replaces instead of appending; a live run (keyed by
// runId) hides its user message once the history has `<runId>:user`, hides a tool call
// once the history has that toolCallId, and is dropped once its final answer is in the
// history. After a reconnect the live runs are dropped and the history reloaded; a run
// still going shows again with its next delta (which carries the text so far).

import { renderMarkdown } from "./markdown.js";

function messageKey(msg) {
  const meta = msg.__openclaw || {};
  if (meta.id != null) return `id:${meta.id}`;
  if (meta.seq != null) return `seq:${meta.seq}`;
  return `t:${msg.role}:${msg.timestamp}:${JSON.stringify(msg.content).length}`;
}

function seqOf(msg) {
  const meta = msg.__openclaw || {};
  return typeof meta.seq === "number" ? meta.seq : Number.MAX_SAFE_INTEGER;
}

export function textOf(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.filter((b) => b && b.type === "text").map((b) => b.text || "").join("\n");
}

export class Transcript {
  constructor() {
    this.reset(null);
  }

  reset(sessionKey) {
    this.sessionKey = sessionKey;
    this.sessionId = null;
    this.cursor = null;
    this.hasMore = false;
    this.messages = new Map();
    this.runs = new Map();
  }

  /** Merge a chat.history payload; `full` replaces what we had. Returns true on change. */
  applyHistory(payload, { full }) {
    if (payload.sessionKey) this.sessionKey = payload.sessionKey;
    if (full || (payload.sessionId && payload.sessionId !== this.sessionId)) {
      this.messages = new Map();
      this.hasMore = Boolean(payload.hasMore);
    }
    this.sessionId = payload.sessionId || this.sessionId;
    this.cursor = payload.deltaCursor || this.cursor;
    for (const msg of payload.messages || []) this.messages.set(messageKey(msg), msg);
    this.settleRuns();
  }

  /** Idempotency keys and tool call ids the history holds. */
  index() {
    const keys = new Set();
    const toolCalls = new Set();
    for (const msg of this.messages.values()) {
      const key = msg.__openclaw?.idempotencyKey || msg.idempotencyKey;
      if (key) keys.add(key);
      if (Array.isArray(msg.content)) {
        for (const block of msg.content) if (block?.type === "toolCall" && block.id) toolCalls.add(block.id);
      }
    }
    return { keys, toolCalls };
  }

  /** Drop finished runs the history now holds. */
  settleRuns() {
    const { keys } = this.index();
    for (const [runId, run] of this.runs) {
      const persisted = keys.has(`${runId}:user`) || keys.has(runId) || !run.local;
      if (run.done && persisted && !run.ephemeral) this.runs.delete(runId);
    }
  }

  run(runId) {
    let run = this.runs.get(runId);
    if (!run) {
      run = { runId, local: false, userText: null, items: [], done: false, state: "running", error: null, ephemeral: false, failed: null };
      this.runs.set(runId, run);
    }
    return run;
  }

  /** A message this tab is sending as run `runId`. */
  addLocalRun(runId, text) {
    const run = this.run(runId);
    run.local = true;
    run.userText = text;
    return run;
  }

  dropLiveRuns() {
    this.runs = new Map();
  }

  /** Apply a `chat` event payload of this session. Returns what the page should do. */
  onChat(payload) {
    const fresh = !this.runs.has(payload.runId);
    const run = this.run(payload.runId);
    const text = textOf(payload.message?.content);
    switch (payload.state) {
      case "delta": {
        // `message` is the text of the current model call so far; after a tool call a
        // new call starts (`replace`), which is a new item after the tool.
        const last = run.items[run.items.length - 1];
        if (last && last.type === "text") last.text = text;
        else run.items.push({ type: "text", text });
        run.state = "running";
        break;
      }
      case "status":
        run.state = payload.phase || "running";
        break;
      case "final":
      case "aborted":
      case "error": {
        run.done = true;
        run.state = payload.state;
        if (payload.state === "error") run.error = payload.errorMessage || "the run failed";
        if (text) {
          const last = run.items[run.items.length - 1];
          if (last && last.type === "text") last.text = text;
          else run.items.push({ type: "text", text });
        }
        break;
      }
      default:
        break;
    }
    return { fresh, done: run.done };
  }

  /** Apply an `agent` event of stream "tool". */
  onTool(payload) {
    const data = payload.data || {};
    if (!data.toolCallId) return;
    const run = this.run(payload.runId);
    let item = run.items.find((i) => i.type === "tool" && i.id === data.toolCallId);
    if (!item) {
      item = { type: "tool", id: data.toolCallId, name: data.name || "tool", args: data.args, phase: "start", isError: false, result: undefined };
      run.items.push(item);
    }
    item.phase = data.phase || item.phase;
    if (data.phase === "result") {
      item.isError = Boolean(data.isError);
      item.result = data.result;
    }
  }

  /** Render everything into the <ol> `list`. */
  render(list) {
    const doc = list.ownerDocument;
    const frag = doc.createDocumentFragment();
    const { keys, toolCalls } = this.index();
    const results = new Map();
    for (const msg of this.messages.values()) {
      if (msg.role === "toolResult" && msg.toolCallId) results.set(msg.toolCallId, msg);
    }
    if (this.hasMore) frag.appendChild(note(doc, "Older messages are not shown."));
    const sorted = [...this.messages.values()].sort((a, b) => seqOf(a) - seqOf(b));
    for (const msg of sorted) {
      const li = renderMessage(doc, msg, results);
      if (li) frag.appendChild(li);
    }
    for (const run of this.runs.values()) {
      if (run.userText !== null && !keys.has(`${run.runId}:user`)) {
        const li = bubble(doc, "user", run.runId);
        li.appendChild(plainText(doc, run.userText));
        if (run.failed) li.appendChild(note(doc, `Not sent: ${run.failed}`, "span"));
        li.dataset.pending = "true";
        frag.appendChild(li);
      }
      const li = bubble(doc, "assistant", run.runId);
      li.dataset.live = "true";
      let shown = false;
      for (const item of run.items) {
        if (item.type === "text" && item.text) {
          const div = doc.createElement("div");
          div.className = "md";
          div.appendChild(renderMarkdown(item.text, doc));
          li.appendChild(div);
          shown = true;
        } else if (item.type === "tool" && !toolCalls.has(item.id)) {
          li.appendChild(toolDetails(doc, item.name, item.args, item.phase === "result" ? { isError: item.isError, content: item.result } : null, item.phase !== "result"));
          shown = true;
        }
      }
      if (run.error) {
        li.appendChild(note(doc, `Error: ${run.error}`, "div", "error"));
        shown = true;
      }
      if (!run.done && !run.failed) {
        li.appendChild(note(doc, run.state === "running" ? "…" : `${run.state.replaceAll("_", " ")}…`, "div", "typing"));
        shown = true;
      }
      if (shown) frag.appendChild(li);
    }
    list.replaceChildren(frag);
  }

  /** The runs of this session still going (for the Stop button). */
  activeRunIds() {
    return [...this.runs.values()].filter((r) => !r.done && !r.failed).map((r) => r.runId);
  }
}

function bubble(doc, role, key) {
  const li = doc.createElement("li");
  li.className = `msg ${role}`;
  if (key) li.dataset.key = key;
  return li;
}

function note(doc, text, tag = "li", cls = "note") {
  const el = doc.createElement(tag);
  el.className = cls;
  el.textContent = text;
  return el;
}

function plainText(doc, text) {
  const div = doc.createElement("div");
  div.className = "plain";
  div.textContent = text;
  return div;
}

function pretty(value) {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

function toolDetails(doc, name, args, result, running) {
  const details = doc.createElement("details");
  details.className = "tool";
  const summary = doc.createElement("summary");
  const status = running ? "running" : result?.isError ? "error" : "done";
  summary.textContent = `Tool call: ${name} (${status})`;
  details.appendChild(summary);
  const argsPre = doc.createElement("pre");
  argsPre.className = "tool-args";
  argsPre.textContent = pretty(args);
  details.appendChild(argsPre);
  if (result) {
    const out = doc.createElement("pre");
    out.className = "tool-result";
    out.textContent = typeof result.content === "string" || result.content === undefined ? pretty(result.content) : textOf(result.content) || pretty(result.content);
    details.appendChild(out);
  }
  return details;
}

function renderMessage(doc, msg, results) {
  const key = messageKey(msg);
  if (msg.role === "user") {
    const li = bubble(doc, "user", key);
    li.appendChild(plainText(doc, textOf(msg.content)));
    return li;
  }
  if (msg.role === "assistant") {
    const li = bubble(doc, "assistant", key);
    const blocks = typeof msg.content === "string" ? [{ type: "text", text: msg.content }] : msg.content || [];
    for (const block of blocks) {
      if (block?.type === "text" && block.text) {
        const div = doc.createElement("div");
        div.className = "md";
        div.appendChild(renderMarkdown(block.text, doc));
        li.appendChild(div);
      } else if (block?.type === "toolCall") {
        li.appendChild(toolDetails(doc, block.name, block.arguments, results.get(block.id) || null, false));
      }
    }
    return li.childNodes.length ? li : null;
  }
  if (msg.role === "toolResult") {
    return null; // shown inside the tool call it answers
  }
  if (msg.role === "compaction") return note(doc, "Earlier messages were compacted into a summary.");
  const li = bubble(doc, "system", key);
  li.appendChild(plainText(doc, textOf(msg.content)));
  return li;
}
