// What every browser flow here shares: JSON lines with the Python test (events out on
// stdout, commands in on stdin), waits on page conditions with a deadline, screenshots,
// the platform's login form, and a headless Chromium run that reports a failed step with a
// screenshot of each page. Environment: ARTIFACTS (screenshot folder), CHROMIUM (the
// executable, default /usr/bin/chromium), STEP_TIMEOUT_MS (default 30000).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { chromium } from "playwright-core";

export const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
export const ARTIFACTS = env("ARTIFACTS");
export const TIMEOUT = Number(env("STEP_TIMEOUT_MS", "30000"));
const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

// -- talking to the Python side ----------------------------------------------------------

export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

const commands = [];
const waiters = [];
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  const waiter = waiters.shift();
  if (waiter) waiter(command);
  else commands.push(command);
});

export async function expectCommand(name) {
  const command = commands.length ? commands.shift() : await new Promise((resolve) => waiters.push(resolve));
  if (command.cmd !== name) throw new Error(`expected the command ${name}, got ${JSON.stringify(command)}`);
  return command;
}

// -- pages -------------------------------------------------------------------------------

export async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export async function waitFor(page, description, predicate, arg) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: TIMEOUT, polling: 100 });
  } catch (err) {
    throw new Error(`${description}: not within ${TIMEOUT} ms (${err.message.split("\n")[0]})`);
  }
}

export async function waitLive(page, who) {
  await waitFor(page, `${who} is live on the hub`, () => document.querySelector("#status")?.textContent === "live");
}

export async function login(page, url, email, password, extra = {}) {
  await page.goto(url);
  await page.locator("#login input[name=email]").fill(email);
  await page.locator("#login input[name=password]").fill(password);
  for (const [name, value] of Object.entries(extra)) await page.locator(`#login input[name=${name}]`).fill(value);
  await page.locator("#login button[type=submit]").click();
}

// -- the run -----------------------------------------------------------------------------

// scenario(context, pages, step) returns the result; pages collects the pages to
// screenshot if a step fails; step(name) names the current step.
export async function run(scenario) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "bobaku-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env("CHROMIUM", "/usr/bin/chromium"),
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60000,
  });
  context.setDefaultTimeout(TIMEOUT);
  const pages = {};
  const problems = { page_errors: [], console_errors: [] };
  context.on("page", (page) => {
    page.on("pageerror", (err) => problems.page_errors.push(`${page.url()}: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.console_errors.push(`${page.url()}: ${msg.text()}`);
    });
  });
  let current = "launch";
  let code = 0;
  try {
    emit("launched", { version: context.browser()?.version() ?? null });
    const result = await scenario(context, pages, (name) => (current = name));
    emit("done", { ...result, ...problems });
  } catch (err) {
    code = 1;
    const screenshots = [];
    for (const [name, page] of Object.entries(pages)) {
      try {
        screenshots.push(await shot(page, `failed-${current}-${name}`));
      } catch (_) {
        /* the page may be gone; the report below still says what failed */
      }
    }
    emit("failed", { step: current, message: String(err.stack || err), screenshots, ...problems });
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exit(code);
}

export function start(scenario) {
  run(scenario).catch((err) => {
    emit("failed", { step: "setup", message: String(err.stack || err) });
    process.exit(1);
  });
}
