// The business dashboard: today live, the last 30 days, top items, kitchen times, loyalty
// points issued vs redeemed with the outstanding liability (brand level), and the forecast, at the level the login allows (HQ: the brand; an owner: their franchise; a
// manager: their outlet; ?franchise=…&outlet=… asks for another). Every figure comes from the
// analytics API with the user's token; the hub's feed (analytics.figures_moved) only says
// when to read them again. A level the token does not allow shows the API's 403, nothing else.
"use strict";

(function () {
  const { HubConnection, Gateway, Session, el, config } = window.Bobaku;
  const gateway = new Gateway(config.gatewayUrl || "");
  const session = new Session(gateway, "bobaku-dashboard");
  const $ = (id) => document.getElementById(id);
  const zone = config.timezone || "Asia/Jakarta";
  const rupiah = new Intl.NumberFormat("id-ID", { style: "currency", currency: "IDR", maximumFractionDigits: 0 });
  const charts = {};
  let base = null; // API prefix of the level shown
  let hub = null;
  let pending = null;
  let updates = 0;

  function localDate(offsetDays) {
    const now = new Date(Date.now() + offsetDays * 86400000);
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(now); // YYYY-MM-DD
  }

  function level(claims) {
    const q = new URLSearchParams(location.search);
    const roles = claims.roles || [];
    const franchise = q.get("franchise") || (roles.includes("hq_admin") && !q.get("outlet") ? null : claims.franchise_id);
    const outlet = q.get("outlet") || (roles.includes("outlet_manager") && !q.get("franchise") ? (claims.outlet_ids || [])[0] : null);
    if (outlet && franchise) {
      const f = encodeURIComponent(franchise);
      return { kind: "outlet", franchise, outlet, base: `/analytics/franchises/${f}/outlets/${encodeURIComponent(outlet)}`, label: `Outlet ${outlet} · ${franchise}` };
    }
    if (franchise) return { kind: "franchise", franchise, base: `/analytics/franchises/${encodeURIComponent(franchise)}`, label: `Franchise ${franchise}` };
    return { kind: "brand", base: "/analytics/brand", label: "Brand (all franchises)" };
  }

  function query(params) {
    return "?" + new URLSearchParams(params).toString();
  }

  function chart(id, type, labels, datasets, options) {
    if (charts[id]) {
      charts[id].data.labels = labels;
      charts[id].data.datasets.forEach((d, i) => (d.data = datasets[i].data));
      charts[id].update("none");
      return;
    }
    charts[id] = new window.Chart($(id), {
      type,
      data: { labels, datasets },
      options: Object.assign({ animation: false, responsive: true, maintainAspectRatio: false, interaction: { mode: "index", intersect: false } }, options || {}),
    });
  }

  function row(...cells) {
    return el("tr", {}, cells.map((c) => el("td", {}, c)));
  }

  function seconds(s) {
    if (s === null || s === undefined) return "–";
    return s >= 60 ? `${Math.floor(s / 60)}m ${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.round(s)}s`;
  }

  function percent(x) {
    return `${(100 * x).toFixed(1)}%`;
  }

  // -- reading the figures ------------------------------------------------------------------

  async function loadToday() {
    const today = localDate(0);
    const [sales, kitchen] = await Promise.all([
      gateway.get(base + "/sales" + query({ from: today, to: today, granularity: "hour" })),
      gateway.get(base + "/kitchen" + query({ from: today, to: today, granularity: "day" })),
    ]);
    const t = sales.totals;
    $("today-orders").textContent = t.orders;
    $("today-net").textContent = rupiah.format(t.net);
    $("today-basket").textContent = rupiah.format(t.average_basket);
    $("today-items").textContent = t.items;
    $("today-cancelled").textContent = percent(t.cancellation_rate);
    $("today-late").textContent = kitchen.totals.orders ? percent(kitchen.totals.late_share) : "–";
    $("today-orders").dataset.value = t.orders;
    $("today-net").dataset.value = t.net;
    chart("chart-today", "bar", sales.series.map((b) => b.bucket.slice(11) + ":00"), [
      { label: "net (Rp)", data: sales.series.map((b) => b.net), backgroundColor: "#8a4b2a" },
    ]);
    return kitchen;
  }

  async function loadPeriod(kitchenToday) {
    const from = localDate(-29);
    const to = localDate(0);
    const [sales, menu, kitchen] = await Promise.all([
      gateway.get(base + "/sales" + query({ from, to, granularity: "day" })),
      gateway.get(base + "/menu" + query({ from, to, limit: 5 })),
      gateway.get(base + "/kitchen" + query({ from, to, granularity: "day" })),
    ]);
    chart(
      "chart-30d",
      "line",
      sales.series.map((b) => b.bucket.slice(5)),
      [
        { label: "net (Rp)", data: sales.series.map((b) => b.net), borderColor: "#8a4b2a", yAxisID: "y" },
        { label: "orders", data: sales.series.map((b) => b.orders), borderColor: "#d9a066", yAxisID: "y1" },
      ],
      { scales: { y: { position: "left" }, y1: { position: "right", grid: { drawOnChartArea: false } } } },
    );
    $("top-items").tBodies[0].replaceChildren(
      ...menu.top_items.map((i) => row(i.name, String(i.cups), rupiah.format(i.revenue))),
    );
    const k = (label, t) => row(label, seconds(t.payment_to_ready_p50_s), seconds(t.payment_to_ready_p90_s), t.orders ? percent(t.late_share) : "–");
    $("kitchen").tBodies[0].replaceChildren(k("Today", kitchenToday.totals), k("30 days", kitchen.totals));
  }

  async function loadLoyalty() {
    const from = localDate(-29);
    const to = localDate(0);
    const l = await gateway.get(base + "/loyalty" + query({ from, to }));
    const points = new Intl.NumberFormat("id-ID");
    const redeemed = l.redeemed === undefined ? l.redeemed_on_orders : l.redeemed;
    $("loyalty-issued").textContent = l.issued === null ? "–" : points.format(l.issued);
    $("loyalty-redeemed").textContent = points.format(redeemed);
    // The liability is the brand's (a customer spends anywhere): shown at HQ's level only.
    const outstanding = l.outstanding_points;
    $("loyalty-outstanding").textContent = outstanding === undefined ? "brand-wide" : points.format(outstanding);
    $("loyalty-outstanding").dataset.value = outstanding === undefined ? "" : outstanding;
    $("loyalty-redeemed").dataset.value = redeemed;
    chart("chart-loyalty", "bar", l.daily.map((d) => d.day.slice(5)), [
      { label: "issued", data: l.daily.map((d) => d.issued), backgroundColor: "#d9a066" },
      { label: "redeemed", data: l.daily.map((d) => d.redeemed), backgroundColor: "#8a4b2a" },
    ]);
  }

  async function loadForecast() {
    const f = await gateway.get(base + "/forecast" + query({ limit: 5 }));
    const days = [];
    for (let i = 0; i < f.days; i++) days.push({ cups: 0, low: 0, high: 0 });
    let day0 = null;
    for (const item of f.items) {
      item.daily.forEach((p, i) => {
        days[i].cups += p.cups;
        days[i].low += p.low;
        days[i].high += p.high;
      });
      day0 = day0 || item.daily.map((p) => p.day.slice(5));
    }
    const labels = day0 || days.map((_, i) => `+${i + 1}`);
    chart("chart-forecast", "line", labels, [
      { label: "low", data: days.map((d) => d.low), borderColor: "#d9a06688", pointRadius: 0 },
      { label: "high", data: days.map((d) => d.high), borderColor: "#d9a06688", backgroundColor: "#d9a06644", fill: "-1", pointRadius: 0 },
      { label: `cups (${f.items.length} top items)`, data: days.map((d) => d.cups), borderColor: "#8a4b2a" },
    ]);
    $("chart-forecast").dataset.items = f.items.length;
  }

  function deny(err) {
    for (const c of Object.values(charts)) c.destroy();
    $("board").hidden = true;
    $("board").querySelectorAll("strong").forEach((n) => (n.textContent = "–"));
    $("denied").hidden = false;
    $("denied-title").textContent = `${err.status} · ${err.code}`;
    $("denied-message").textContent = err.message;
    if (hub) hub.stop();
  }

  async function refresh() {
    pending = null;
    try {
      const kitchen = await loadToday();
      await loadPeriod(kitchen);
      await loadLoyalty();
      updates += 1;
      const stamp = new Intl.DateTimeFormat("en-GB", { timeZone: zone, timeStyle: "medium" }).format(new Date());
      $("updated").textContent = `updated ${stamp}`;
      $("updated").dataset.count = updates;
      $("updated").dataset.settled = $("today-orders").dataset.value; // what this reload showed
    } catch (err) {
      if (err.status === 403 || err.status === 401) deny(err);
    }
  }

  function onPublication(data) {
    if (data.type !== "analytics.figures_moved") return;
    if (!pending) pending = setTimeout(refresh, 200); // several feeds may say it at once
  }

  function setStatus(status, detail) {
    const node = $("status");
    node.className = `status ${status}`;
    node.textContent = status;
    node.title = detail || "";
  }

  async function follow(scope) {
    let channels;
    if (scope.kind === "outlet") channels = [`outlet:${scope.outlet}:kitchen`];
    else if (scope.kind === "franchise") channels = [`franchise:${scope.franchise}:ops`];
    else {
      const roll = await gateway.get("/analytics/brand/franchises" + query({ from: localDate(-29), to: localDate(0) }));
      channels = roll.franchises.map((f) => `franchise:${f.franchise_id}:ops`);
    }
    hub = new HubConnection({ getToken: () => session.token(), name: "dashboard", onStatus: setStatus });
    session.onToken = (token) => hub.setToken(token);
    for (const name of channels) hub.subscribe(name, { onPublication, onReload: refresh });
    hub.start();
    $("status").dataset.channels = channels.join(" ");
  }

  async function open() {
    const scope = level(session.claims);
    base = scope.base;
    $("login").hidden = true;
    $("logout").hidden = false;
    $("scope").textContent = scope.label;
    try {
      const kitchen = await loadToday(); // the first read decides: figures, or the 403
      $("board").hidden = false;
      await loadPeriod(kitchen);
      await loadLoyalty();
      await loadForecast();
    } catch (err) {
      if (err.status === 403 || err.status === 401) return deny(err);
      throw err;
    }
    $("board").dataset.loaded = "true";
    await follow(scope);
  }

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
    } catch (err) {
      $("login-error").textContent = err.message;
      return;
    }
    await open();
  });
  if (session.tokens) open().catch((err) => ($("login-error").textContent = err.message));
})();
