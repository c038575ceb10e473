// Kitchen display: the outlet's tickets in arrival order, live from the hub; kitchen actions
// (bump, recall) are HTTP calls through the gateway, whose effects come back as publications.
"use strict";

(function () {
  const { HubConnection, Gateway, Session, el, shortOrder, config } = window.Bobaku;
  const WARN = (config.kdsWarnSeconds || 240) * 1000;
  const TARGET = (config.kdsTargetSeconds || 300) * 1000;
  const GONE = new Set(["order.completed", "order.cancelled", "order.refunded", "order.compensated"]);

  const gateway = new Gateway(config.gatewayUrl || "");
  const session = new Session(gateway, "bobaku-kds");
  const $ = (id) => document.getElementById(id);

  const tickets = new Map(); // order id → ticket
  const stations = new Set();
  const displays = new Map(); // client id → presence info
  let outletId = null;
  let hub = null;
  let loading = false;
  let buffered = [];

  // -- tickets ----------------------------------------------------------------------------
  //
  // One shape, the order service's kitchen ticket (docs/api/order.md, "Kitchen tickets"):
  // GET /outlets/{id}/kitchen serves whole tickets, and order.being_prepared (v1.1) carries
  // the same lines, so a ticket shows the same whether it came live or after a reload.

  function linesOf(lines) {
    return lines.map((l) => {
      if (l.station) stations.add(l.station);
      return {
        name: l.name,
        quantity: l.quantity,
        station: l.station || "",
        sugar: l.sugar_level,
        ice: l.ice_level,
        toppings: l.toppings,
      };
    });
  }

  function fromTicket(t) {
    return {
      id: t.order_id,
      status: t.status === "ready" ? "ready" : "preparing",
      startedAt: Date.parse(t.started_at),
      readyAt: t.ready_at ? Date.parse(t.ready_at) : undefined,
      lines: linesOf(t.lines),
      pending: false,
    };
  }

  async function kitchenTickets() {
    const page = await gateway.get(`/outlets/${encodeURIComponent(outletId)}/kitchen`);
    return page.items.map(fromTicket);
  }

  // A ticket this screen has not seen (an order.being_prepared v1.0 without lines, or a
  // move of an order it missed): the kitchen's list has it (the tickets already shown stay
  // as they are), and the move that led here applies on top, as the read model may lag it.
  async function fetchMissing(id, changes) {
    try {
      for (const ticket of await kitchenTickets()) {
        if (!tickets.has(ticket.id)) tickets.set(ticket.id, ticket);
      }
      const ticket = tickets.get(id);
      if (ticket) Object.assign(ticket, changes);
      render();
    } catch (err) {
      toast(`Cannot load the kitchen: ${err.message}`);
    }
  }

  function move(id, changes) {
    const ticket = tickets.get(id);
    if (!ticket) fetchMissing(id, changes);
    else Object.assign(ticket, changes, { pending: false });
  }

  function apply(event) {
    const data = event.data || {};
    const id = data.order_id;
    if (!id) return;
    const at = Date.parse(event.timestamp);
    if (event.type === "order.being_prepared") {
      if (tickets.has(id) || !data.lines) move(id, { status: "preparing", readyAt: undefined });
      else tickets.set(id, { id, status: "preparing", startedAt: at, lines: linesOf(data.lines), pending: false });
    } else if (event.type === "order.recalled") move(id, { status: "preparing", readyAt: undefined });
    else if (event.type === "order.ready") move(id, { status: "ready", readyAt: at });
    else if (GONE.has(event.type)) tickets.delete(id);
    else return;
    render();
  }

  function onPublication(event) {
    if (loading) buffered.push(event);
    else apply(event);
  }

  // The hub says where to start from; the state up to there comes over HTTP. Publications
  // that arrive meanwhile are applied after it, in order, so nothing is lost or doubled.
  async function reload() {
    loading = true;
    buffered = [];
    try {
      const loaded = await kitchenTickets();
      tickets.clear();
      for (const ticket of loaded) tickets.set(ticket.id, ticket);
    } catch (err) {
      toast(`Cannot load the kitchen: ${err.message}`);
    } finally {
      loading = false;
      const queued = buffered;
      buffered = [];
      queued.forEach(apply);
      render();
    }
    hub.presence(channel()).then(showDisplays).catch(() => {});
  }

  // -- actions ----------------------------------------------------------------------------

  async function act(ticket, action) {
    ticket.pending = true;
    render();
    try {
      await gateway.post(`/orders/${encodeURIComponent(ticket.id)}/${action}`);
    } catch (err) {
      ticket.pending = false;
      toast(`${action} ${shortOrder(ticket.id)} failed: ${err.message}`);
      render();
    }
  }

  // -- rendering --------------------------------------------------------------------------

  function elapsed(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function lineView(line, station) {
    const extras = [];
    if (line.sugar !== null && line.sugar !== undefined) extras.push(`sugar ${line.sugar}%`);
    if (line.ice !== null && line.ice !== undefined) extras.push(`ice ${line.ice}%`);
    const off = station && line.station !== station;
    return el(
      "li",
      { class: off ? "off-station" : "" },
      el("b", {}, `${line.quantity}× ${line.name}`),
      line.station ? el("span", { class: "tag" }, line.station) : null,
      extras.length ? el("div", { class: "mods" }, extras.join(" · ")) : null,
      line.toppings.length ? el("div", { class: "mods" }, "+ " + line.toppings.join(", ")) : null,
    );
  }

  // The SLA colours of a ticket being prepared: amber ("warn") from WARN, red ("late") from
  // TARGET, by the page's clock against the ticket's started_at.
  function slaClass(age) {
    return age >= TARGET ? "late" : age >= WARN ? "warn" : "";
  }

  function ticketView(ticket, station, now) {
    const age = now - ticket.startedAt;
    const late = ticket.status === "preparing" ? slaClass(age) : "";
    return el(
      "article",
      { class: `ticket ${ticket.status} ${late}`, "data-order": ticket.id },
      el("header", {}, el("b", {}, shortOrder(ticket.id)), el("span", { class: "timer", "data-start": ticket.startedAt }, elapsed(age))),
      el("ul", {}, ticket.lines.map((l) => lineView(l, station))),
      ticket.status === "preparing"
        ? el("button", { class: "bump", disabled: ticket.pending, onclick: () => act(ticket, "bump") }, "Bump → ready")
        : el("button", { class: "recall", disabled: ticket.pending, onclick: () => act(ticket, "recall") }, "Recall"),
    );
  }

  function render() {
    const station = $("station").value;
    const now = Date.now();
    const visible = [...tickets.values()].filter((t) => !station || t.lines.some((l) => l.station === station));
    const preparing = visible.filter((t) => t.status === "preparing").sort((a, b) => a.startedAt - b.startedAt);
    const ready = visible.filter((t) => t.status === "ready").sort((a, b) => (b.readyAt || 0) - (a.readyAt || 0));
    $("preparing").replaceChildren(...preparing.map((t) => ticketView(t, station, now)));
    $("ready").replaceChildren(...ready.map((t) => ticketView(t, station, now)));
    $("count-preparing").textContent = preparing.length;
    $("count-ready").textContent = ready.length;
    const select = $("station");
    for (const name of [...stations].sort()) {
      if (![...select.options].some((o) => o.value === name)) select.append(el("option", { value: name }, name));
    }
  }

  function tick() {
    const now = Date.now();
    for (const node of document.querySelectorAll("#preparing .ticket")) {
      const timer = node.querySelector(".timer");
      const age = now - Number(timer.dataset.start);
      timer.textContent = elapsed(age);
      const sla = slaClass(age);
      node.classList.toggle("warn", sla === "warn");
      node.classList.toggle("late", sla === "late");
    }
  }

  function showDisplays(list) {
    displays.clear();
    for (const info of list) displays.set(info.client, info);
    renderDisplays();
  }

  function renderDisplays() {
    const names = [...displays.values()].map((d) => d.display || d.name || d.user);
    $("displays").textContent = names.length ? `Screens online: ${names.join(", ")}` : "";
  }

  function toast(message) {
    const node = $("toast");
    node.textContent = message;
    node.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (node.hidden = true), 5000);
  }

  function setStatus(status, detail) {
    const node = $("status");
    node.className = `status ${status}`;
    node.textContent = status === "live" ? "live" : status;
    node.title = detail || "";
  }

  // -- start ------------------------------------------------------------------------------

  function channel() {
    return `outlet:${outletId}:kitchen`;
  }

  async function open(display) {
    const claims = session.claims;
    outletId = new URLSearchParams(location.search).get("outlet") || (claims.outlet_ids || [])[0];
    if (!outletId) throw new Error("this account works at no outlet; open /kds?outlet=<id>");
    $("login").hidden = true;
    $("board").hidden = false;
    $("logout").hidden = false;
    $("station-label").hidden = false;
    gateway
      .get(`/outlets/${encodeURIComponent(outletId)}`)
      .then((outlet) => {
        $("outlet-name").textContent = outlet.name || outletId;
        for (const name of outlet.stations) stations.add(name);
        render();
      })
      .catch(() => ($("outlet-name").textContent = outletId));
    hub = new HubConnection({
      getToken: () => session.token(),
      name: display || claims.name || null,
      onStatus: setStatus,
      positions: sessionStorage,
    });
    session.onToken = (token) => hub.setToken(token);
    hub.subscribe(channel(), {
      onPublication,
      onReload: reload,
      onJoin: (info) => {
        displays.set(info.client, info);
        renderDisplays();
      },
      onLeave: (info) => {
        displays.delete(info.client);
        renderDisplays();
      },
      onError: (err) => toast(`Cannot follow the kitchen: ${err.message}`),
    });
    hub.start();
    setInterval(tick, 1000);
  }

  $("station").addEventListener("change", render);
  $("logout").addEventListener("click", () => {
    session.logout();
    location.reload();
  });
  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    $("login-error").textContent = "";
    try {
      await session.login(form.get("email"), form.get("password"));
      sessionStorage.setItem("bobaku-kds-display", form.get("display") || "");
      await open(form.get("display"));
    } catch (err) {
      $("login-error").textContent = err.message;
    }
  });
  if (session.tokens) open(sessionStorage.getItem("bobaku-kds-display")).catch((err) => toast(err.message));
})();
