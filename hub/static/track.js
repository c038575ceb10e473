// Order tracking: the customer sees their order's status change live, with its history,
// and their in-app notifications (in their language) as they arrive.
"use strict";

(function () {
  const { HubConnection, Gateway, Session, el, shortOrder, config } = window.Bobaku;
  const gateway = new Gateway(config.gatewayUrl || "");
  const session = new Session(gateway, "bobaku-track");
  const $ = (id) => document.getElementById(id);

  const STEPS = ["pending_payment", "payment_completed", "being_prepared", "ready", "completed"];
  const LABELS = {
    pending_payment: "Menunggu pembayaran · Awaiting payment",
    payment_completed: "Dibayar · Paid",
    being_prepared: "Sedang disiapkan · Being prepared",
    ready: "Siap diambil · Ready for pickup",
    completed: "Selesai · Picked up",
    cancelled: "Dibatalkan · Cancelled",
    refunded: "Dana dikembalikan · Refunded",
  };
  // Which status each order event leads to (events without one only join the history).
  const STATUS_OF = {
    "order.created": "pending_payment",
    "order.payment_completed": "payment_completed",
    "order.being_prepared": "being_prepared",
    "order.ready": "ready",
    "order.recalled": "being_prepared",
    "order.completed": "completed",
    "order.cancelled": "cancelled",
    "order.refunded": "refunded",
  };

  let orderId = null;
  let status = null;
  let timeline = []; // [{status, at, id}]
  let loading = false;
  let buffered = [];
  let hub = null;

  function setStatus(state, detail) {
    $("status").className = `status ${state}`;
    $("status").textContent = state;
    $("status").title = detail || "";
  }

  function statusOf(entry) {
    return entry.status || entry.to || entry.state;
  }

  async function reload() {
    loading = true;
    buffered = [];
    try {
      // The gateway's composite view: {order: {..., status: {current, history, ...}}}.
      const view = await gateway.get(`/orders/${encodeURIComponent(orderId)}`);
      const order = view.order || view;
      const state = typeof order.status === "object" && order.status ? order.status : { current: order.status };
      status = state.current;
      timeline = (state.history || order.status_history || order.history || []).map((h) => ({
        status: statusOf(h),
        at: h.timestamp || h.at || h.changed_at,
        id: h.event_id || null,
      }));
      $("order-outlet").textContent = (order.outlet && (order.outlet.name || order.outlet.id)) || order.outlet_id || "";
      $("items").replaceChildren(
        ...(order.items || order.lines || []).map((item) =>
          el("li", {}, `${item.quantity}× ${item.name || item.menu_id}`),
        ),
      );
    } catch (err) {
      $("order-state").textContent = `Cannot load the order: ${err.message}`;
    } finally {
      loading = false;
      buffered.splice(0).forEach(apply);
      render();
    }
  }

  function apply(event) {
    const next = STATUS_OF[event.type];
    if (!next) return;
    if (timeline.some((h) => h.id === event.id)) return;
    // A reload already holding this step leaves it alone; a new step is appended.
    const last = timeline[timeline.length - 1];
    if (!(last && last.status === next && !last.id)) timeline.push({ status: next, at: event.timestamp, id: event.id });
    status = next;
    render();
  }

  function render() {
    $("order-title").textContent = `Order ${shortOrder(orderId)}`;
    $("order-state").textContent = LABELS[status] || status || "";
    const reached = STEPS.indexOf(status);
    $("steps").replaceChildren(
      ...STEPS.map((step, i) => el("li", { class: i <= reached ? "done" : "" }, LABELS[step].split(" · ")[1])),
    );
    $("history").replaceChildren(
      ...timeline.map((h) =>
        el("li", {}, el("time", {}, h.at ? new Date(h.at).toLocaleTimeString() : ""), " ", LABELS[h.status] || h.status),
      ),
    );
  }

  function notify(message) {
    const data = message.data || {};
    const card = el("div", { class: "note" }, el("b", {}, data.title || ""), el("p", {}, data.body || ""));
    $("inbox").prepend(card);
    setTimeout(() => card.classList.add("old"), 8000);
  }

  function follow() {
    $("pick").hidden = true;
    $("order").hidden = false;
    hub.subscribe(`order:${orderId}`, {
      onPublication: (event) => (loading ? buffered.push(event) : apply(event)),
      onReload: reload,
      onError: (err) => ($("order-state").textContent = `Cannot follow this order: ${err.message}`),
    });
  }

  function start() {
    $("login").hidden = true;
    $("logout").hidden = false;
    hub = new HubConnection({ getToken: () => session.token(), name: "tracking", onStatus: setStatus });
    session.onToken = (token) => hub.setToken(token);
    hub.subscribe(`user:${session.claims.sub}:inbox`, { onPublication: notify });
    hub.start();
    orderId = new URLSearchParams(location.search).get("order");
    if (orderId) follow();
    else $("pick").hidden = false;
  }

  $("pick").addEventListener("submit", (event) => {
    event.preventDefault();
    orderId = new FormData(event.target).get("order").trim();
    window.history.replaceState(null, "", `?order=${encodeURIComponent(orderId)}`);
    follow();
  });
  $("logout").addEventListener("click", () => {
    session.logout();
    location.reload();
  });
  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      await session.login(form.get("email"), form.get("password"));
      start();
    } catch (err) {
      $("login-error").textContent = err.message;
    }
  });
  if (session.tokens) start();
})();
