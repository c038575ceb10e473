// The analytics dashboard in headless Chromium, driven by
// tests/integration/test_dashboard_browser.py, which places the order through the gateway.
//
// 1. the demo owner of fr-bandung logs into /dashboard (through the gateway) and it loads
//    their franchise's figures and goes live on the hub ({"event": "owner_ready"});
// 2. the test places an order at one of their outlets ({"cmd": "placed"}): today's orders
//    on the page move without a reload ({"event": "owner_live"});
// 3. the owner of fr-jakarta opens /dashboard?franchise=fr-bandung: the page shows the 403
//    and no figure, and follows no feed;
// 4. HQ opens the brand level, the manager of outlet-05 their outlet (with the forecast).
// Environment: GATEWAY_URL, OWNER_EMAIL, OTHER_OWNER_EMAIL, HQ_EMAIL, MANAGER_EMAIL,
// PASSWORD, OTHER_FRANCHISE; the rest as in harness.mjs.
import { emit, env, expectCommand, login, shot, start, waitFor, waitLive } from "./harness.mjs";

const GW = env("GATEWAY_URL").replace(/\/$/, "");
const PASSWORD = env("PASSWORD");

// What the page shows, read from the DOM and the charts (Chart.js keeps its instances).
function view(page) {
  return page.evaluate(() => {
    const chartOf = (id) => {
      const canvas = document.getElementById(id);
      const chart = canvas && window.Chart ? window.Chart.getChart(canvas) : undefined;
      if (!chart) return null;
      return { labels: chart.data.labels.length, datasets: chart.data.datasets.map((d) => d.data.length), sums: chart.data.datasets.map((d) => d.data.reduce((a, b) => a + b, 0)) };
    };
    const text = (id) => document.getElementById(id)?.textContent ?? "";
    return {
      scope: text("scope"),
      // As the person sees it: laid out or not (the attribute alone can be overridden by CSS).
      board_hidden: getComputedStyle(document.getElementById("board")).display === "none",
      denied_hidden: getComputedStyle(document.getElementById("denied")).display === "none",
      login_hidden: getComputedStyle(document.getElementById("login")).display === "none",
      denied_title: text("denied-title"),
      denied_message: text("denied-message"),
      orders: Number(document.getElementById("today-orders").dataset.value ?? NaN),
      net: Number(document.getElementById("today-net").dataset.value ?? NaN),
      kpis: [...document.querySelectorAll(".kpi strong")].map((n) => n.textContent),
      top_items: [...document.querySelectorAll("#top-items tbody tr")].map((r) => r.textContent),
      kitchen: [...document.querySelectorAll("#kitchen tbody tr")].map((r) => r.textContent),
      updates: Number(document.getElementById("updated").dataset.count),
      channels: document.getElementById("status").dataset.channels ?? null,
      hub: text("status"),
      charts: { today: chartOf("chart-today"), days: chartOf("chart-30d"), forecast: chartOf("chart-forecast"), loyalty: chartOf("chart-loyalty") },
      loyalty: {
        issued: text("loyalty-issued"),
        redeemed: document.getElementById("loyalty-redeemed").dataset.value ?? null,
        outstanding_text: text("loyalty-outstanding"),
        outstanding: document.getElementById("loyalty-outstanding").dataset.value ?? null,
      },
      chart_instances: window.Chart ? Object.keys(window.Chart.instances).length : -1,
      loaded_at: window.__loadedAt ?? null,
    };
  });
}

async function open(context, pages, name, url, email) {
  const page = await context.newPage();
  pages[name] = page;
  await page.setViewportSize({ width: 1280, height: 1000 });
  const statuses = [];
  page.on("response", (r) => {
    if (r.url().includes("/api/v1/analytics/")) statuses.push(r.status());
  });
  await login(page, url, email, PASSWORD);
  return { page, statuses };
}

async function loaded(page, who) {
  await waitFor(page, `${who}'s dashboard loads`, () => document.getElementById("board").dataset.loaded === "true");
  await waitLive(page, `${who}'s dashboard`);
  await page.evaluate(() => (window.__loadedAt = window.__loadedAt || Date.now()));
}

async function scenario(context, pages, step) {
  const result = { screenshots: [] };

  step("owner_login");
  const { page: owner } = await open(context, pages, "owner", `${GW}/dashboard`, env("OWNER_EMAIL"));
  await loaded(owner, "the owner");
  result.owner_before = await view(owner);
  result.screenshots.push(await shot(owner, "dashboard-owner"));
  emit("owner_ready", { orders: result.owner_before.orders });

  step("owner_live");
  const { orders: expected } = await expectCommand("placed");
  // A reload of every figure that ended after today's orders reached the new count.
  await waitFor(
    owner,
    `today's orders reach ${expected} live`,
    ([n, before]) =>
      Number(document.getElementById("today-orders").dataset.value) >= n &&
      Number(document.getElementById("updated").dataset.count) > before &&
      Number(document.getElementById("updated").dataset.settled) >= n,
    [expected, result.owner_before.updates],
  );
  result.owner_after = await view(owner);
  result.screenshots.push(await shot(owner, "dashboard-owner-live"));
  emit("owner_live", { orders: result.owner_after.orders });

  step("other_owner_denied");
  const other = env("OTHER_FRANCHISE");
  const denied = await open(context, pages, "denied", `${GW}/dashboard?franchise=${encodeURIComponent(other)}`, env("OTHER_OWNER_EMAIL"));
  await waitFor(denied.page, "the 403 is shown", () => !document.getElementById("denied").hidden);
  result.denied = { ...(await view(denied.page)), statuses: denied.statuses };
  result.screenshots.push(await shot(denied.page, "dashboard-denied"));

  step("hq");
  const { page: hq } = await open(context, pages, "hq", `${GW}/dashboard`, env("HQ_EMAIL"));
  await loaded(hq, "HQ");
  result.hq = await view(hq);
  result.screenshots.push(await shot(hq, "dashboard-hq"));

  step("manager");
  const { page: manager } = await open(context, pages, "manager", `${GW}/dashboard`, env("MANAGER_EMAIL"));
  await loaded(manager, "the manager");
  result.manager = await view(manager);
  result.screenshots.push(await shot(manager, "dashboard-manager"));
  return result;
}

start(scenario);
