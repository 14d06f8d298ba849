// A closed popup, opened again from the connect page, in a real browser
// (Debian's Chromium, headless, driven by playwright-core).
//
//   node reopen.e2e.mjs <session-url> <screenshots-dir>
//
// The Rust test (tests/api/real_oauth_server.rs) starts grantd behind a
// proxy that serves it under a path prefix, oauth2-mock-server as the
// provider, creates the session and checks the connection through grantd's
// API. The journey: the connect page as the whole window → the provider →
// a popup, through grantd's bounce, to the provider's sign-in page → the
// person closes the popup there → "Open the sign-in window again" on the
// page → the same flow, through grantd's bounce with the cookie this browser
// got the first time → the sign-in page → "Allow" → grantd's callback → the
// page shows success. Prints one JSON line with what it saw.
import { TIMEOUT, launch, screenshotter, watchConsole } from "./browser.mjs";

const [sessionUrl, screenshotsDir] = process.argv.slice(2);
if (!sessionUrl || !screenshotsDir) {
  console.error("usage: node reopen.e2e.mjs <session-url> <screenshots-dir>");
  process.exit(2);
}
const { taken: screenshots, snap } = screenshotter(screenshotsDir);
/** @type {string[]} */
const consoleErrors = [];
const browser = await launch();
/** @type {Record<string, unknown>} */
const result = { screenshots, consoleErrors };
/** The window the person is looking at, for the report when a step fails. */
/** @type {import("playwright-core").Page | null} */
let current = null;
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  context.setDefaultTimeout(TIMEOUT);
  let pages = 0;
  context.on("page", (opened) => watchConsole(opened, pages++ === 0 ? "page" : `popup ${pages - 1}`, consoleErrors));
  const page = await context.newPage();
  await page.goto(sessionUrl);
  const provider = page.getByRole("button", { name: /Mock OAuth Server/ });
  await provider.waitFor();
  result.pageUrl = page.url();

  // First popup: it reaches the provider's sign-in page, and is closed there.
  const firstPromise = context.waitForEvent("page");
  await provider.click();
  const first = await firstPromise;
  current = first;
  await first.getByRole("heading", { name: "Sign in to Mock OAuth" }).waitFor();
  result.firstPopupUrl = first.url();
  await snap(first, "11-reopen-provider-page.png");
  await first.close();
  const reopen = page.getByRole("button", { name: "Open the sign-in window again" });
  await reopen.waitFor();
  await snap(page, "12-reopen-waiting.png");

  // Second popup, from the page's own button: the same flow, finished.
  const secondPromise = context.waitForEvent("page");
  await reopen.click();
  const second = await secondPromise;
  current = second;
  await second.getByRole("link", { name: "Allow" }).click();
  try {
    await second.waitForURL(/\/callbacks\/v1\/oauth\?/, { timeout: TIMEOUT });
    await second.waitForLoadState("domcontentloaded");
    result.callbackText = (await second.locator("main").textContent())?.replace(/\s+/g, " ").trim();
  } catch (error) {
    // The callback page closes itself 1.5 s after reporting; a slow machine
    // may miss it. The page's result below is what matters.
    result.popupNote = `callback page not captured: ${String(error).split("\n")[0]}`;
  }
  await page.getByRole("heading", { name: /is connected/ }).waitFor();
  result.successText = (await page.locator("#view-done").textContent())?.replace(/\s+/g, " ").trim();
  await snap(page, "13-reopen-connected.png");
  await context.close();
  result.ok = true;
} catch (error) {
  result.ok = false;
  result.error = String(error && /** @type {Error} */ (error).stack ? /** @type {Error} */ (error).stack : error);
  if (current && !current.isClosed()) {
    result.failedAt = current.url();
    result.failedPageText = (await current.locator("body").textContent().catch(() => ""))?.replace(/\s+/g, " ").trim();
  }
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(result.ok ? 0 : 1);
