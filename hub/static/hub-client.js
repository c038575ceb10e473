// A small client for the BobaKu hub protocol (docs/hub-protocol.md): connect with a token,
// subscribe to channels, answer heartbeats, reconnect with back-off, and resume each channel
// from its last position so a reconnect neither loses nor repeats a publication.
"use strict";

(function () {
  const HUB_URL =
    (window.BOBAKU_CONFIG && window.BOBAKU_CONFIG.hubWsUrl) ||
    (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";

  class HubConnection {
    // options: {getToken: async () => token, name, onStatus(status, detail)}
    constructor(options) {
      this.options = options;
      this.channels = new Map(); // name → {handlers, offset, epoch, active}
      this.pending = new Map(); // command id → {resolve, reject}
      this.nextId = 1;
      this.ws = null;
      this.stopped = true;
      this.backoff = 500;
      this.lastSeen = 0;
      this.pingInterval = 25;
      this.watchdog = null;
    }

    start() {
      this.stopped = false;
      this._open();
      this.watchdog = setInterval(() => this._checkAlive(), 1000);
    }

    stop() {
      this.stopped = true;
      clearInterval(this.watchdog);
      if (this.ws) this.ws.close(1000, "bye");
    }

    // handlers: {onPublication(data, offset), onJoin(info), onLeave(info), onReload(reason)}
    subscribe(channel, handlers) {
      const entry = { handlers, offset: null, epoch: null, active: false, restored: false };
      // A page reloaded in this tab resumes from where it was (options.positions, e.g.
      // sessionStorage): what happened while it was away is recovered, not lost in the gap
      // between its HTTP state and the hub's current position.
      const saved = this._loadPosition(channel);
      if (saved) Object.assign(entry, { offset: saved.offset, epoch: saved.epoch, restored: true });
      this.channels.set(channel, entry);
      if (this._connected) this._subscribe(channel, entry);
    }

    unsubscribe(channel) {
      this.channels.delete(channel);
      if (this._connected) this.call("unsubscribe", { channel }).catch(() => {});
    }

    presence(channel) {
      return this.call("presence", { channel }).then((r) => r.clients);
    }

    async setToken(token) {
      if (this._connected) await this.call("refresh", { token });
    }

    call(op, fields) {
      const id = this.nextId++;
      return new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        this.ws.send(JSON.stringify(Object.assign({ id, op }, fields || {})));
      });
    }

    _status(status, detail) {
      if (this.options.onStatus) this.options.onStatus(status, detail);
    }

    async _open() {
      this._connected = false;
      this._status("connecting");
      let token;
      try {
        token = await this.options.getToken();
      } catch (err) {
        this._status("error", "cannot get a token: " + err.message);
        return this._retry();
      }
      const ws = new WebSocket(HUB_URL);
      this.ws = ws;
      ws.onopen = async () => {
        this.lastSeen = Date.now();
        try {
          const info = await this.call("connect", { token, name: this.options.name || null });
          this.pingInterval = info.ping_interval;
          this._connected = true;
          this.backoff = 500;
          this._status("live", info.node);
          for (const [channel, entry] of this.channels) this._subscribe(channel, entry);
        } catch (err) {
          this._status("error", err.message);
        }
      };
      ws.onmessage = (event) => this._onFrame(JSON.parse(event.data));
      ws.onclose = (event) => {
        this._connected = false;
        for (const { reject } of this.pending.values()) reject(new Error("connection closed"));
        this.pending.clear();
        for (const entry of this.channels.values()) entry.active = false;
        this._status("offline", event.code + " " + (event.reason || ""));
        if (!this.stopped) this._retry();
      };
    }

    _retry() {
      const delay = this.backoff * (0.75 + Math.random() / 2);
      this.backoff = Math.min(this.backoff * 2, 10000);
      setTimeout(() => !this.stopped && this._open(), delay);
    }

    _checkAlive() {
      // The hub pings every interval; silence for two of them means the link is dead.
      if (this._connected && Date.now() - this.lastSeen > (2 * this.pingInterval + 5) * 1000) {
        this.ws.close(4000, "no heartbeat");
      }
    }

    async _subscribe(channel, entry) {
      const fields = { channel };
      if (entry.offset !== null) Object.assign(fields, { recover: true, offset: entry.offset, epoch: entry.epoch });
      let result;
      try {
        result = await this.call("subscribe", fields);
      } catch (err) {
        if (entry.handlers.onError) entry.handlers.onError(err);
        return;
      }
      const first = entry.offset === null;
      entry.epoch = result.epoch;
      entry.active = true;
      if (first || result.recovered === false) {
        // Nothing to resume from (or too much was missed): the page reloads its state over
        // HTTP, and publications after `result.offset` keep arriving on top of it.
        entry.offset = result.offset;
        entry.restored = false;
        this._savePosition(channel, entry);
        if (entry.handlers.onReload) entry.handlers.onReload(first ? "initial" : result.reason);
        return;
      }
      if (entry.restored) {
        // A fresh page has no state yet: load it, and apply the recovered publications on
        // top (the page buffers them while it loads).
        entry.restored = false;
        if (entry.handlers.onReload) entry.handlers.onReload("restored");
      }
      for (const pub of result.publications || []) this._deliver(channel, entry, pub.offset, pub.data);
      entry.offset = Math.max(entry.offset, result.offset);
      this._savePosition(channel, entry);
    }

    _deliver(channel, entry, offset, data) {
      if (entry.offset !== null && offset <= entry.offset) return; // already seen
      entry.offset = offset;
      this._savePosition(channel, entry);
      entry.handlers.onPublication(data, offset);
    }

    _loadPosition(channel) {
      const store = this.options.positions;
      if (!store) return null;
      try {
        const saved = JSON.parse(store.getItem(`hub-position:${channel}`) || "null");
        return saved && Number.isInteger(saved.offset) && saved.epoch ? saved : null;
      } catch (err) {
        return null;
      }
    }

    _savePosition(channel, entry) {
      const store = this.options.positions;
      if (!store || entry.offset === null) return;
      store.setItem(`hub-position:${channel}`, JSON.stringify({ offset: entry.offset, epoch: entry.epoch }));
    }

    _onFrame(frame) {
      this.lastSeen = Date.now();
      if (frame.id !== undefined) {
        const waiter = this.pending.get(frame.id);
        if (!waiter) return;
        this.pending.delete(frame.id);
        if (frame.error) {
          const err = new Error(frame.error.message);
          err.code = frame.error.code;
          waiter.reject(err);
        } else waiter.resolve(frame.result);
        return;
      }
      if (frame.type === "ping") {
        this.ws.send('{"op":"pong"}');
        return;
      }
      const entry = this.channels.get(frame.channel);
      if (!entry) return;
      if (frame.type === "pub") this._deliver(frame.channel, entry, frame.offset, frame.data);
      else if (frame.type === "join" && entry.handlers.onJoin) entry.handlers.onJoin(frame.info);
      else if (frame.type === "leave" && entry.handlers.onLeave) entry.handlers.onLeave(frame.info);
    }
  }

  // The gateway: JSON calls with the bearer token, idempotency keys on POSTs, the envelope
  // unwrapped (errors thrown with the platform's code and message).
  class Gateway {
    constructor(baseUrl) {
      this.baseUrl = baseUrl.replace(/\/$/, "") + "/api/v1";
      this.token = null;
    }

    async request(method, path, body) {
      const headers = { Accept: "application/json" };
      if (this.token) headers.Authorization = "Bearer " + this.token;
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (method === "POST") headers["Idempotency-Key"] = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
      const resp = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      let payload = null;
      try {
        payload = await resp.json();
      } catch (_) {
        payload = null;
      }
      if (!resp.ok || !payload || payload.status !== "success") {
        const error = (payload && payload.error) || { code: "http_" + resp.status, message: resp.statusText };
        const err = new Error(error.message || "request failed");
        err.code = error.code;
        err.status = resp.status;
        throw err;
      }
      return payload.data;
    }

    get(path) {
      return this.request("GET", path);
    }

    post(path, body) {
      return this.request("POST", path, body === undefined ? {} : body);
    }
  }

  // Login state kept for the tab: tokens are refreshed before they expire and handed to the hub.
  class Session {
    constructor(gateway, storageKey) {
      this.gateway = gateway;
      this.key = storageKey;
      this.tokens = JSON.parse(sessionStorage.getItem(storageKey) || "null");
      this.onToken = null;
      this.timer = null;
      if (this.tokens) this._use(this.tokens);
    }

    get claims() {
      if (!this.tokens) return null;
      const part = this.tokens.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(decodeURIComponent(escape(atob(part))));
    }

    async login(email, password) {
      const data = await this.gateway.post("/auth/login", { email, password });
      this._use(data.tokens);
      return data.user;
    }

    logout() {
      sessionStorage.removeItem(this.key);
      this.tokens = null;
      clearTimeout(this.timer);
    }

    async token() {
      if (!this.tokens) throw new Error("not logged in");
      if (this.claims.exp * 1000 - Date.now() < 30000) await this.refresh();
      return this.tokens.access_token;
    }

    async refresh() {
      const data = await this.gateway.post("/auth/refresh", { refresh_token: this.tokens.refresh_token });
      this._use(data.tokens || data);
      if (this.onToken) await this.onToken(this.tokens.access_token).catch(() => {});
    }

    _use(tokens) {
      this.tokens = tokens;
      this.gateway.token = tokens.access_token;
      sessionStorage.setItem(this.key, JSON.stringify(tokens));
      clearTimeout(this.timer);
      const left = this.claims.exp * 1000 - Date.now();
      this.timer = setTimeout(() => this.refresh().catch(() => {}), Math.max(5000, left * 0.8));
    }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function shortOrder(orderId) {
    return "#" + String(orderId).split("-").pop().toUpperCase();
  }

  window.Bobaku = { HubConnection, Gateway, Session, el, shortOrder, config: window.BOBAKU_CONFIG || {} };
})();
