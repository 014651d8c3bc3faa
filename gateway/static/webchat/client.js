// The gateway connection of WebChat: OpenClaw protocol v4 as a `webchat` client.
//
// Waits for `connect.challenge`, sends `connect` with the token or password, then matches
// responses to requests by id and hands events to the page. After the socket drops it
// reconnects with backoff (1 s doubling to 30 s, as OpenClaw's reference client), unless
// the gateway refused the credentials: that needs the user.

const PROTOCOL = 4;
const CHALLENGE_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 30000;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;

/** A random id; crypto.randomUUID exists only in secure contexts (not http://LAN-IP). */
export function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class GatewayError extends Error {
  constructor(error) {
    super(error?.message || "request failed");
    this.code = error?.code || "UNAVAILABLE";
    this.details = error?.details || {};
    this.retryAfterMs = error?.retryAfterMs;
  }
}

const CLOSE_REASONS = {
  1000: "closed",
  1001: "the gateway went away",
  1006: "the connection was lost",
  1008: "refused by the gateway's policy",
  1009: "a frame was over the gateway's size limit",
  1011: "the gateway hit an error",
  1012: "the gateway is restarting",
  4000: "no keepalive from the gateway",
};

export function describeClose(code, reason) {
  const text = CLOSE_REASONS[code] || "closed";
  return reason ? `${text} (${code}: ${reason})` : `${text} (${code})`;
}

export class GatewayClient {
  /**
   * @param {object} options
   * @param {string} options.url  ws(s)://host:port/
   * @param {() => object} options.auth  returns {token} or {password}
   * @param {object} handlers  onHello(hello, reconnected), onEvent(frame), onStatus(state, text),
   *   onAuthError(error), onProtocolError(text)
   */
  constructor({ url, auth, instanceId }, handlers) {
    this.url = url;
    this.auth = auth;
    this.instanceId = instanceId || randomId();
    this.handlers = handlers;
    this.ws = null;
    this.pending = new Map();
    this.counter = 0;
    this.hello = null;
    this.stopped = true;
    this.attempt = 0;
    this.timer = null;
    this.everConnected = false;
    this.lastSeq = null;
  }

  get connected() {
    return this.hello !== null && this.ws?.readyState === WebSocket.OPEN;
  }

  get maxPayload() {
    return this.hello?.policy?.maxPayload || Number(document.body.dataset.maxPayload) || 26214400;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.failPending("disconnected");
    if (this.ws) this.ws.close(1000, "logout");
    this.ws = null;
    this.hello = null;
  }

  open() {
    clearTimeout(this.timer);
    this.hello = null;
    this.handlers.onStatus("connecting", this.attempt ? `reconnecting (attempt ${this.attempt + 1})` : "connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    let challenged = false;
    const challengeTimer = setTimeout(() => {
      if (!challenged && this.ws === ws) ws.close(4000, "no connect.challenge");
    }, CHALLENGE_TIMEOUT_MS);
    ws.onmessage = (msg) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(msg.data);
      } catch {
        this.handlers.onProtocolError(`The gateway sent a malformed frame (not JSON, ${String(msg.data).length} characters); it was ignored.`);
        return;
      }
      if (!frame || typeof frame !== "object") {
        this.handlers.onProtocolError("The gateway sent a malformed frame (not an object); it was ignored.");
        return;
      }
      if (frame.type === "event" && frame.event === "connect.challenge" && !challenged) {
        challenged = true;
        clearTimeout(challengeTimer);
        this.sendConnect(frame.payload?.nonce);
        return;
      }
      this.receive(frame);
    };
    ws.onclose = (ev) => {
      clearTimeout(challengeTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      const wasConnected = this.hello !== null;
      this.hello = null;
      this.failPending(describeClose(ev.code, ev.reason));
      if (this.stopped) return;
      if (wasConnected) this.attempt = 0;
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
      this.attempt += 1;
      this.handlers.onStatus("offline", `Disconnected: ${describeClose(ev.code, ev.reason)}. Reconnecting in ${Math.round(delay / 1000)} s…`);
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  async sendConnect(nonce) {
    const params = {
      minProtocol: PROTOCOL,
      maxProtocol: PROTOCOL,
      client: {
        id: "webchat",
        displayName: "WebChat",
        version: "0.1.0",
        platform: "web",
        mode: "webchat",
        instanceId: this.instanceId,
      },
      role: "operator",
      scopes: ["operator.read", "operator.write"],
      caps: ["tool-events"],
      auth: this.auth(),
      locale: navigator.language,
      userAgent: navigator.userAgent,
    };
    let hello;
    try {
      hello = await this.request("connect", params, { beforeHello: true });
    } catch (err) {
      if (err instanceof GatewayError) {
        // Refused credentials, origin or rate limit: retrying on a timer would not help.
        this.stopped = true;
        clearTimeout(this.timer);
        this.handlers.onAuthError(err);
      }
      return;
    }
    void nonce; // shared-secret auth: no device signature over the nonce
    this.hello = hello;
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.attempt = 0;
    this.lastSeq = null;
    this.handlers.onStatus("online", "connected");
    this.handlers.onHello(hello, reconnected);
  }

  receive(frame) {
    if (frame.type === "res") {
      const waiter = this.pending.get(frame.id);
      if (!waiter) {
        if (!frame.ok) this.handlers.onProtocolError(`The gateway refused a frame: ${frame.error?.message || "unknown error"} (${frame.error?.code || "?"}).`);
        return;
      }
      // `agent` may answer twice; a first "accepted" res is not the answer.
      if (frame.ok && frame.payload?.status === "accepted" && waiter.expectFinal) return;
      this.pending.delete(frame.id);
      clearTimeout(waiter.timer);
      if (frame.ok) waiter.resolve(frame.payload);
      else waiter.reject(new GatewayError(frame.error));
      return;
    }
    if (frame.type === "event") {
      if (typeof frame.seq === "number") {
        if (this.lastSeq !== null && frame.seq > this.lastSeq + 1) this.handlers.onGap?.(this.lastSeq, frame.seq);
        this.lastSeq = frame.seq;
      }
      this.handlers.onEvent(frame);
    }
  }

  /** Send a request; resolves with the payload or rejects with a GatewayError. */
  request(method, params, { beforeHello = false, expectFinal = false } = {}) {
    return new Promise((resolve, reject) => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN || (!beforeHello && !this.hello)) {
        reject(new Error("not connected to the gateway"));
        return;
      }
      this.counter += 1;
      const id = `${this.counter}:${randomId()}`;
      const text = JSON.stringify({ type: "req", id, method, params });
      const size = new TextEncoder().encode(text).length;
      if (size > this.maxPayload) {
        reject(new GatewayError({ code: "INVALID_REQUEST", message: `the frame is ${formatBytes(size)}; the gateway accepts at most ${formatBytes(this.maxPayload)}. Nothing was sent.` }));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer from the gateway in ${REQUEST_TIMEOUT_MS / 1000} s`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, expectFinal });
      ws.send(text);
    });
  }

  /** Send text as it is (debugging and tests: the gateway's answer to a bad frame). */
  sendRaw(text) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  failPending(reason) {
    for (const [id, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`connection closed: ${reason}`));
      this.pending.delete(id);
    }
  }
}

export function formatBytes(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}
