// The kitchen display and order tracking pages in headless Chromium, driven step by step by
// tests/integration/test_browser.py, which places the orders through the gateway.
//
// The two sides talk in JSON lines: this script writes {"event": ...} to stdout and reads
// {"cmd": ...} from stdin. Every wait is for a condition on the page, with a deadline; a
// failed step is reported as {"event": "failed", "step", "message"} (with a screenshot of
// each page) and the script exits 1.
//
// Environment: HUB_URL (the hub, serving /kds and /track), STAFF_EMAIL, STAFF_PASSWORD,
// CUSTOMER_EMAIL, CUSTOMER_PASSWORD, ARTIFACTS (screenshot folder), CHROMIUM (the
// executable, default /usr/bin/chromium), STEP_TIMEOUT_MS (default 30000); the shared parts
// are in harness.mjs.
import { emit, env, expectCommand, login, shot, start, waitFor, waitLive } from "./harness.mjs";

const HUB = env("HUB_URL").replace(/\/$/, "");

// -- the hub's websocket, droppable on demand --------------------------------------------

// Every websocket of the KDS page goes through this route, so the test can cut the link (as
// a flaky kitchen Wi-Fi would) and keep it down while an order is placed.
class Link {
  constructor() {
    this.sockets = new Set();
    this.down = false;
    this.opened = 0;
  }

  async install(page) {
    await page.routeWebSocket(/\/ws$/, (ws) => {
      if (this.down) {
        ws.close({ code: 4000, reason: "link down (test)" });
        return;
      }
      this.opened += 1;
      ws.connectToServer();
      this.sockets.add(ws);
      ws.onClose(() => this.sockets.delete(ws));
    });
  }

  async cut() {
    this.down = true;
    await Promise.all([...this.sockets].map((ws) => ws.close({ code: 4000, reason: "link cut (test)" })));
    this.sockets.clear();
  }

  restore() {
    this.down = false;
  }
}

// -- pages -------------------------------------------------------------------------------

const hubStatus = (page) => page.locator("#status").textContent();

// What the KDS shows of one order: where its ticket is (or tickets are), and their text.
function ticketsOf(page, orderId) {
  return page.evaluate((id) => {
    const found = [...document.querySelectorAll("article.ticket")].filter((n) => n.dataset.order === id);
    return found.map((n) => ({
      rail: n.closest(".tickets")?.id ?? null,
      classes: n.className,
      text: n.innerText,
      button: n.querySelector("button")?.textContent ?? null,
    }));
  }, orderId);
}

function allTicketIds(page) {
  return page.evaluate(() => [...document.querySelectorAll("article.ticket")].map((n) => n.dataset.order));
}

async function ticketIn(page, orderId, rail, withText) {
  await waitFor(
    page,
    `ticket ${orderId} in #${rail}` + (withText ? ` showing "${withText}"` : ""),
    ([id, where, text]) =>
      [...document.querySelectorAll(`#${where} article.ticket`)].some(
        (n) => n.dataset.order === id && (!text || n.innerText.includes(text)),
      ),
    [orderId, rail, withText || ""],
  );
}

async function trackingShows(page, status) {
  const label = { being_prepared: "Sedang disiapkan", ready: "Siap diambil" }[status];
  await waitFor(
    page,
    `tracking page shows ${status}`,
    (text) => document.querySelector("#order-state")?.textContent.includes(text),
    label,
  );
}

function trackingView(page) {
  return page.evaluate(() => ({
    state: document.querySelector("#order-state")?.textContent ?? "",
    title: document.querySelector("#order-title")?.textContent ?? "",
    outlet: document.querySelector("#order-outlet")?.textContent ?? "",
    steps_done: [...document.querySelectorAll("#steps li.done")].map((n) => n.textContent),
    history: [...document.querySelectorAll("#history li")].map((n) => n.textContent),
    items: [...document.querySelectorAll("#items li")].map((n) => n.textContent),
    hub: document.querySelector("#status")?.textContent ?? "",
  }));
}

// -- the scenario ------------------------------------------------------------------------

async function scenario(context, pages, step) {
  const result = {};

  step("kds_login");
  const kds = await context.newPage();
  pages.kds = kds;
  await kds.setViewportSize({ width: 1280, height: 800 });
  const link = new Link();
  await link.install(kds);
  await login(kds, `${HUB}/kds`, env("STAFF_EMAIL"), env("STAFF_PASSWORD"), { display: "Tea bar" });
  await waitFor(kds, "the KDS board after login", () => !document.querySelector("#board").hidden);
  await waitLive(kds, "the KDS");
  // The initial load is over once the outlet's name and this screen's presence are shown.
  await waitFor(kds, "the KDS lists itself among the screens online", () =>
    document.querySelector("#displays")?.textContent.includes("Tea bar"),
  );
  result.kds_outlet = await kds.locator("#outlet-name").textContent();
  emit("kds_ready", { outlet: result.kds_outlet });

  step("order_appears");
  const { order_id: first, item, toppings } = await expectCommand("watch");
  await ticketIn(kds, first, "preparing", item);
  for (const topping of toppings) await ticketIn(kds, first, "preparing", topping);
  result.before_bump = await ticketsOf(kds, first);
  result.screenshots = [await shot(kds, "kds-before-bump")];

  step("tracking_login");
  const track = await context.newPage();
  pages.track = track;
  await track.setViewportSize({ width: 480, height: 900 });
  await login(track, `${HUB}/track?order=${encodeURIComponent(first)}`, env("CUSTOMER_EMAIL"), env("CUSTOMER_PASSWORD"));
  await waitLive(track, "the tracking page");
  await trackingShows(track, "being_prepared");
  result.tracking_before = await trackingView(track);

  step("bump");
  await kds.locator(`#preparing article.ticket[data-order="${first}"] button.bump`).click();
  await ticketIn(kds, first, "ready");
  result.after_bump = await ticketsOf(kds, first);
  result.screenshots.push(await shot(kds, "kds-after-bump"));

  step("tracking_ready");
  await trackingShows(track, "ready");
  await waitFor(track, "the ready step in the tracking history", () =>
    [...document.querySelectorAll("#history li")].some((n) => n.textContent.includes("Siap diambil")),
  );
  result.tracking = await trackingView(track);
  result.screenshots.push(await shot(track, "tracking-ready"));

  // A dropped link: the KDS resumes from its last position (hub recovery), and an order
  // placed while it was offline shows up once.
  step("link_drop");
  await link.cut();
  await waitFor(kds, "the KDS notices the link is down", () => document.querySelector("#status")?.textContent !== "live");
  result.status_while_down = await hubStatus(kds);
  result.screenshots.push(await shot(kds, "kds-offline"));
  emit("kds_offline");
  const { order_id: second } = await expectCommand("watch");
  const opened = link.opened;
  link.restore();
  await waitLive(kds, "the KDS after the link is back");
  await ticketIn(kds, second, "preparing", "Brown Sugar");
  result.reconnects = link.opened - opened;
  result.after_drop = { first: await ticketsOf(kds, first), second: await ticketsOf(kds, second), all: await allTicketIds(kds) };
  result.screenshots.push(await shot(kds, "kds-after-reconnect"));

  // A reload: the page starts over from HTTP and the hub, with an order placed meanwhile.
  step("reload");
  link.down = true;
  await kds.reload();
  await waitFor(kds, "the KDS board after the reload", () => !document.querySelector("#board").hidden);
  emit("kds_reloading");
  const { order_id: third } = await expectCommand("watch");
  link.restore();
  await waitLive(kds, "the KDS after the reload");
  await ticketIn(kds, third, "preparing", "Brown Sugar");
  await ticketIn(kds, second, "preparing");
  await ticketIn(kds, first, "ready");
  result.after_reload = {
    first: await ticketsOf(kds, first),
    second: await ticketsOf(kds, second),
    third: await ticketsOf(kds, third),
    all: await allTicketIds(kds),
  };
  result.screenshots.push(await shot(kds, "kds-after-reload"));

  // The station filter, on tickets that came back over HTTP after a reload: a blender order
  // among the toppings station's.
  step("station_filter");
  emit("kds_stations");
  const { order_id: blend, item: blendItem } = await expectCommand("watch");
  await ticketIn(kds, blend, "preparing", blendItem);
  await kds.reload();
  await waitLive(kds, "the KDS after the second reload");
  await ticketIn(kds, blend, "preparing", blendItem);
  await ticketIn(kds, first, "ready");
  result.stations = {
    options: await kds.locator("#station option").evaluateAll((nodes) => nodes.map((n) => n.value)),
    blend_after_reload: await ticketsOf(kds, blend),
  };
  for (const station of ["blender", "toppings", ""]) {
    await kds.locator("#station").selectOption(station);
    result.stations[station || "all"] = await allTicketIds(kds);
  }
  result.screenshots.push(await shot(kds, "kds-stations"));

  // Recall: a bumped ticket recalled comes back to the preparing rail, its clock kept.
  step("recall");
  const startOf = async (id) => kds.locator(`article.ticket[data-order="${id}"] .timer`).getAttribute("data-start");
  const startedBefore = await startOf(second);
  await kds.locator(`#preparing article.ticket[data-order="${second}"] button.bump`).click();
  await ticketIn(kds, second, "ready");
  const bumped = await ticketsOf(kds, second);
  await kds.locator(`#ready article.ticket[data-order="${second}"] button.recall`).click();
  await ticketIn(kds, second, "preparing");
  result.recall = {
    bumped,
    recalled: await ticketsOf(kds, second),
    start_kept: startedBefore !== null && startedBefore === (await startOf(second)),
  };

  // The SLA colours, on a screen whose clock the test holds (Playwright's fake clock): set
  // to just before the amber threshold of the blender ticket, just past it, and past red.
  step("sla_timers");
  const sla = await context.newPage();
  pages.sla = sla;
  await sla.setViewportSize({ width: 1280, height: 800 });
  await sla.clock.install();
  await login(sla, `${HUB}/kds`, env("STAFF_EMAIL"), env("STAFF_PASSWORD"), { display: "Clock" });
  await waitLive(sla, "the clock-held KDS");
  await ticketIn(sla, blend, "preparing", blendItem);
  const limits = await sla.evaluate(() => ({
    warn_ms: window.Bobaku.config.kdsWarnSeconds * 1000,
    target_ms: window.Bobaku.config.kdsTargetSeconds * 1000,
  }));
  const start = Number(await sla.locator(`#preparing article.ticket[data-order="${blend}"] .timer`).getAttribute("data-start"));
  result.sla = { ...limits, start };
  const moments = {
    fresh: start + limits.warn_ms - 10000,
    amber: start + limits.warn_ms + 10000,
    red: start + limits.target_ms + 10000,
  };
  for (const [name, at] of Object.entries(moments)) {
    await sla.clock.pauseAt(at); // fires the page's due timers (its 1 s tick) once, at `at`
    result.sla[name] = await sla.evaluate((id) => {
      const node = document.querySelector(`#preparing article.ticket[data-order="${id}"]`);
      return {
        classes: [...node.classList],
        timer: node.querySelector(".timer").textContent,
        border: getComputedStyle(node).borderTopColor,
      };
    }, blend);
  }
  result.screenshots.push(await shot(sla, "kds-sla-red"));
  await sla.close();
  delete pages.sla;
  return result;
}

start(scenario);
