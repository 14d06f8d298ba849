// End-to-end test of grantd's hosted connect page in a real browser
// (Debian's Chromium, headless, driven by playwright-core; no test runner).
//
//   node connect.e2e.mjs <embed-page-url> <redirect-session-url> <screenshots-dir>
//
// The Rust test (tests/api/connect_page.rs) starts grantd, oauth2-mock-server
// as the provider and a page on another origin that embeds the connect page,
// creates the sessions, runs this script and checks the connections through
// grantd's API. This script drives two journeys and prints one JSON line with
// what it saw:
//
// 1. Desktop, embedded in an iframe on the customer's origin, popup flow:
//    providers → keyboard choice → inline error for a bad workspace → fix →
//    popup → oauth2-mock-server → callback → success, and the embedding page
//    receives the postMessage.
// 2. Phone width, top-level, popups blocked: the page sends the window
//    itself to the provider, the callback shows the result and returns to
//    the allow-listed return URL with connectionId and status.
//
// In both, the page's URL once loaded is reported: the session token came in
// its fragment and must be gone from the address bar.
//
// Screenshots of each step go to <screenshots-dir>.
import { TIMEOUT, launch, screenshotter, watchConsole as watch } from "./browser.mjs";

const [embedUrl, redirectSessionUrl, screenshotsDir] = process.argv.slice(2);
if (!embedUrl || !redirectSessionUrl || !screenshotsDir) {
  console.error("usage: node connect.e2e.mjs <embed-page-url> <redirect-session-url> <screenshots-dir>");
  process.exit(2);
}
const { taken: screenshots, snap } = screenshotter(screenshotsDir);
/** @type {string[]} */
const consoleErrors = [];

/**
 * @param {import("playwright-core").Page} page
 * @param {string} label
 */
function watchConsole(page, label) {
  watch(page, label, consoleErrors);
}

const browser = await launch();
const result = { screenshots, consoleErrors, iframe: {}, redirect: {} };
try {
  // ---------- 1. embedded, popup ----------
  const desktop = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  desktop.setDefaultTimeout(TIMEOUT);
  const page = await desktop.newPage();
  watchConsole(page, "embedder");
  await page.goto(embedUrl);
  const frame = page.frameLocator("#grantd-connect");
  const workspaceProvider = frame.getByRole("button", { name: /Workspace OAuth/ });
  await workspaceProvider.waitFor();
  await frame.getByRole("button", { name: /Mock OAuth Server/ }).waitFor();
  // The token came in the frame's URL fragment; the page has taken it out.
  result.iframe.pageUrl = page.frames().map((f) => f.url()).find((u) => u.includes("/connect?"));
  await snap(page, "01-providers.png");

  // Keyboard only: focus the provider and press Enter.
  await workspaceProvider.focus();
  await page.keyboard.press("Enter");
  const tenant = frame.getByLabel("Tenant");
  await tenant.waitFor();
  await tenant.fill("Not A Tenant!");
  await page.keyboard.press("Enter");
  const inlineError = frame.locator(".field .error").first();
  await inlineError.waitFor({ state: "visible" });
  result.iframe.inlineError = (await inlineError.textContent())?.trim();
  result.iframe.ariaInvalid = await tenant.getAttribute("aria-invalid");
  result.iframe.focusedAfterError = await tenant.evaluate((node) => node === document.activeElement);
  await snap(page, "02-invalid-input.png");

  await tenant.fill("acme");
  const popupPromise = desktop.waitForEvent("page");
  await frame.getByRole("button", { name: "Continue" }).click();
  const popup = await popupPromise;
  watchConsole(popup, "popup");
  try {
    await popup.waitForURL(/\/callbacks\/v1\/oauth/, { timeout: TIMEOUT });
    await popup.waitForLoadState("domcontentloaded");
    result.iframe.popupCallbackText = (await popup.locator("main").textContent())?.trim();
    await snap(popup, "03-authorize-callback-popup.png");
  } catch (error) {
    // The callback page closes itself 1.5 s after reporting; a slow machine
    // may miss it. The result below is what matters.
    result.iframe.popupNote = `callback page not captured: ${error.message.split("\n")[0]}`;
  }
  await frame.getByRole("heading", { name: /is connected/ }).waitFor();
  await page.locator("#messages li").first().waitFor();
  result.iframe.successText = (await frame.locator("#view-done").textContent())?.replace(/\s+/g, " ").trim();
  result.iframe.messages = await page
    .locator("#messages li")
    .evaluateAll((items) => items.map((item) => JSON.parse(item.getAttribute("data-message") || "null")));
  await snap(page, "04-success-embedded.png");
  await desktop.close();

  // ---------- 2. phone, popups blocked, redirect fallback ----------
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  phone.setDefaultTimeout(TIMEOUT);
  // What a popup blocker does: window.open returns null.
  await phone.addInitScript(() => {
    window.open = () => null;
  });
  const mobile = await phone.newPage();
  watchConsole(mobile, "phone");
  await mobile.goto(redirectSessionUrl);
  const only = mobile.getByRole("button", { name: /Mock OAuth Server/ });
  await only.waitFor();
  result.redirect.pageUrl = mobile.url();
  await snap(mobile, "05-phone-providers.png");
  await only.tap();
  await mobile.waitForURL(/\/callbacks\/v1\/oauth/, { timeout: TIMEOUT });
  await mobile.waitForLoadState("domcontentloaded");
  result.redirect.callbackText = (await mobile.locator("main").textContent())?.replace(/\s+/g, " ").trim();
  await snap(mobile, "06-phone-callback.png");
  await mobile.waitForURL(/\/return\?/, { timeout: TIMEOUT });
  await mobile.locator("#returned").waitFor();
  result.redirect.url = mobile.url();
  await snap(mobile, "07-phone-returned.png");
  await phone.close();
  result.ok = true;
} catch (error) {
  result.ok = false;
  result.error = String(error && error.stack ? error.stack : error);
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(result.ok ? 0 : 1);
