// What the browser scripts share: Chromium, screenshots, and a watch on
// script errors, CSP violations and failed requests.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export const TIMEOUT = 20_000;

/** Debian's Chromium, headless. */
export function launch() {
  const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  return chromium.launch({ executablePath, headless: true, timeout: 60_000 });
}

/**
 * Saves full-page screenshots into `dir` and lists their names.
 * @param {string} dir
 */
export function screenshotter(dir) {
  mkdirSync(dir, { recursive: true });
  /** @type {string[]} */
  const taken = [];
  return {
    taken,
    /**
     * @param {import("playwright-core").Page} page
     * @param {string} name
     */
    async snap(page, name) {
      await page.screenshot({ path: join(dir, name), fullPage: true });
      taken.push(name);
    },
  };
}

/**
 * Collects script errors, CSP violations and failed requests into `errors`
 * (the browser's own /favicon.ico probe aside: it reports those as console
 * errors too, so failed loads are judged from the responses instead).
 * @param {import("playwright-core").Page} page
 * @param {string} label
 * @param {string[]} errors
 */
export function watchConsole(page, label, errors) {
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    if (message.text().startsWith("Failed to load resource")) return;
    errors.push(`${label}: ${message.text()}`);
  });
  page.on("pageerror", (error) => errors.push(`${label}: ${error.message}`));
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (response.status() >= 400 && url.pathname !== "/favicon.ico") {
      errors.push(`${label}: HTTP ${response.status()} for ${url.pathname}`);
    }
  });
}
