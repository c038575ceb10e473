// The kitchen display of a silo outlet on the cluster, in headless Chromium (e2e/run.sh):
// the barista's board goes live on the hub, the order's ticket is on it, the barista bumps
// it and the ticket moves to the ready rail (the order service's order.ready, back through
// the hub). The page is the hub's own /kds; its gateway calls (same origin here) are sent
// to the gateway's address, and the barista's token is put in the page's session as a
// login would (the silo outlet has no demo staff account to log in with).
//
// Environment: HUB_URL, GATEWAY_URL, STAFF_TOKEN, OUTLET, ORDER_ID, ARTIFACTS (screenshots),
// CHROMIUM (default /usr/bin/chromium), STEP_TIMEOUT_MS (default 60000). Prints one JSON
// line with what it saw; exits 1 with the failed step's message.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const HUB = env("HUB_URL").replace(/\/$/, "");
const GATEWAY = env("GATEWAY_URL").replace(/\/$/, "");
const ORDER = env("ORDER_ID");
const OUTLET = env("OUTLET");
const ARTIFACTS = env("ARTIFACTS");
const TIMEOUT = Number(env("STEP_TIMEOUT_MS", "60000"));

async function waitFor(page, description, predicate, arg) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: TIMEOUT, polling: 200 });
  } catch (err) {
    throw new Error(`${description}: not within ${TIMEOUT} ms (${err.message.split("\n")[0]})`);
  }
}

const inRail = (rail) => ([id, where]) =>
  [...document.querySelectorAll(`#${where} article.ticket`)].some((n) => n.dataset.order === id);

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "bobaku-kds-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env("CHROMIUM", "/usr/bin/chromium"),
    headless: true,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  const errors = [];
  let step = "setup";
  try {
    // Same-origin gateway calls (gatewayUrl ""), sent on to the gateway.
    await context.route(`${HUB}/config.js`, async (route) => {
      const original = await (await route.fetch()).text();
      const body = original.replace(/"gatewayUrl": "[^"]*"/, '"gatewayUrl": ""');
      await route.fulfill({ body, contentType: "application/javascript" });
    });
    await context.route(`${HUB}/api/v1/**`, async (route) => {
      const url = GATEWAY + route.request().url().slice(HUB.length);
      await route.fulfill({ response: await route.fetch({ url }) });
    });
    const tokens = JSON.stringify({ access_token: env("STAFF_TOKEN"), refresh_token: "e2e" });
    await context.addInitScript((saved) => {
      sessionStorage.setItem("bobaku-kds", saved);
      sessionStorage.setItem("bobaku-kds-display", "e2e bar");
    }, tokens);
    const page = await context.newPage();
    page.on("pageerror", (err) => errors.push(String(err)));
    await page.setViewportSize({ width: 1280, height: 800 });

    step = "live";
    await page.goto(`${HUB}/kds?outlet=${encodeURIComponent(OUTLET)}`);
    await waitFor(page, "the KDS live on the hub", () => document.querySelector("#status")?.textContent === "live");

    step = "ticket";
    await waitFor(page, `ticket ${ORDER} in #preparing`, inRail("preparing"), [ORDER, "preparing"]);
    const ticket = page.locator(`#preparing article.ticket[data-order="${ORDER}"]`);
    const before = await ticket.innerText();
    await page.screenshot({ path: path.join(ARTIFACTS, "kds-cluster-before-bump.png"), fullPage: true });

    step = "bump";
    await ticket.locator("button.bump").click();
    await waitFor(page, `ticket ${ORDER} in #ready`, inRail("ready"), [ORDER, "ready"]);
    await page.screenshot({ path: path.join(ARTIFACTS, "kds-cluster-after-bump.png"), fullPage: true });
    const outlet = await page.locator("#outlet-name").textContent();
    if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
    process.stdout.write(
      JSON.stringify({ step: "kds", order_id: ORDER, outlet, ticket: before, moved_to: "ready" }) + "\n",
    );
  } catch (err) {
    process.stdout.write(JSON.stringify({ step: "kds-failed", at: step, message: String(err.message || err) }) + "\n");
    for (const page of context.pages()) {
      await page.screenshot({ path: path.join(ARTIFACTS, `kds-cluster-failed-${step}.png`) }).catch(() => {});
    }
    process.exitCode = 1;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main();
