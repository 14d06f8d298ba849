// @ts-check
/**
 * grantd's hosted connect page.
 *
 * Plain modern JavaScript with JSDoc types, served exactly as written:
 * browsers run it directly, so grantd needs no build step and its users no
 * Node.js. Editors (and `tsc --checkJs`, if you have it) type-check it.
 *
 * The page reads its session with the token from its own URL's fragment
 * (never sent to a server, so never in an access log), lets the person
 * choose a provider and type the inputs the provider needs (checked
 * with the catalog's patterns here and again by grantd), then opens the
 * provider in a popup (or, when popups are blocked, sends this window
 * there). The result arrives by `postMessage` from grantd's callback page in
 * the popup, or by polling the session, whichever comes first, and is
 * relayed to the embedding page, addressed to its exact allow-listed origin.
 * No HTML is ever built from strings: every node is created and filled with
 * `textContent`.
 */

/**
 * @typedef {{field: string, label: string, required: boolean, pattern: string, docsUrl?: string}} Input
 * @typedef {{name: string, displayName: string, initials: string, hue: number, inputs: Input[]}} Provider
 * @typedef {{status: string, connectionId?: string, error?: string, errorDescription?: string}} Result
 * @typedef {{id: string, status: string, providers: Provider[], reauthorize: boolean,
 *   groupName?: string, parentOrigin?: string, returnUrl?: string, provider?: string,
 *   expiresAt: string, result?: Result}} Session
 * @typedef {{ok: boolean, status: number, body: any}} ApiResponse
 */

const POLL_MS = 2000;
const POPUP_WIDTH = 520;
const POPUP_HEIGHT = 680;

const token = takeToken();
const framed = window.parent !== window;

/** @type {Session | null} */
let session = null;
/** @type {Provider | null} */
let chosen = null;
/** @type {Window | null} */
let popup = null;
/** @type {string | null} */
let authorizationUrl = null;
let busy = false;
let finished = false;
/** @type {number | undefined} */
let pollTimer;

/**
 * The session token from the URL's fragment (`#token=gcs_…`), taken out of
 * the address bar at once so that it is not copied, bookmarked or shown.
 * This tab keeps it in `sessionStorage` (per tab, this origin only), so that
 * a reload still finds it.
 * @returns {string}
 */
function takeToken() {
  const sessionId = new URLSearchParams(window.location.search).get("sessionId") || "";
  const key = `grantd-connect:${sessionId}`;
  const fromFragment = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (window.location.hash) {
    history.replaceState(history.state, "", window.location.pathname + window.location.search);
  }
  if (fromFragment) {
    try {
      window.sessionStorage.setItem(key, fromFragment);
    } catch {
      // Storage refused (a private mode, a blocked frame): no reload, that is all.
    }
    return fromFragment;
  }
  try {
    return window.sessionStorage.getItem(key) || "";
  } catch {
    return "";
  }
}

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
function $(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing #${id}`);
  return element;
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {{className?: string, text?: string, attrs?: Record<string, string>}} [options]
 * @returns {HTMLElementTagNameMap[K]}
 */
function el(tag, options = {}) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text) node.textContent = options.text;
  for (const [name, value] of Object.entries(options.attrs || {})) node.setAttribute(name, value);
  return node;
}

/**
 * Shows one view, moves focus to its heading and announces it.
 * @param {string} id
 * @param {string} [announcement]
 */
function show(id, announcement) {
  for (const view of document.querySelectorAll(".view")) {
    /** @type {HTMLElement} */ (view).hidden = view.id !== id;
  }
  $("main").setAttribute("aria-busy", id === "view-loading" ? "true" : "false");
  const heading = $(id).querySelector("h1");
  if (heading) {
    document.title = heading.textContent || document.title;
    heading.focus();
  }
  $("announcer").textContent = announcement || "";
}

/**
 * Calls one of grantd's connect-page endpoints with the session token.
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [init]
 * @returns {Promise<ApiResponse>}
 */
async function api(path, init = {}) {
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(new URL(path, document.baseURI), {
    method: init.method || "GET",
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    credentials: "same-origin",
    cache: "no-store",
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { ok: response.ok, status: response.status, body };
}

/**
 * A badge: initials on a colour derived from the provider's name.
 * @param {HTMLElement} badge
 * @param {Provider} provider
 */
function paintBadge(badge, provider) {
  badge.textContent = provider.initials;
  badge.className = `badge hue-${Math.abs(provider.hue) % 12}`;
}

/** @param {string | undefined} name */
function providerNamed(name) {
  return (session && session.providers.find((p) => p.name === name)) || null;
}

/** Where the person can go when they are done: back to the app, or nowhere. */
function exitKind() {
  if (framed) return "framed";
  if (window.opener) return "popup";
  if (session && session.returnUrl) return "return";
  return "none";
}

/**
 * The session's return URL with the result in its query.
 * @param {Result} result
 */
function returnUrlWith(result) {
  if (!session || !session.returnUrl) return null;
  const url = new URL(session.returnUrl);
  if (result.connectionId) url.searchParams.set("connectionId", result.connectionId);
  url.searchParams.set("status", result.status);
  const provider = (chosen && chosen.name) || session.provider;
  if (provider) url.searchParams.set("provider", provider);
  if (result.error) url.searchParams.set("error", result.error);
  return url.toString();
}

/**
 * Tells the page that embeds or opened this one, at its exact origin.
 * @param {Result} result
 */
function notifyParent(result) {
  if (!session || !session.parentOrigin) return;
  const target = framed ? window.parent : window.opener;
  if (!target) return;
  /** @type {Record<string, string>} */
  const message = { type: "grantd:connect", status: result.status, sessionId: session.id };
  const provider = (chosen && chosen.name) || session.provider;
  if (provider) message.provider = provider;
  if (result.connectionId) message.connectionId = result.connectionId;
  if (result.error) message.error = result.error;
  if (result.errorDescription) message.errorDescription = result.errorDescription;
  try {
    target.postMessage(message, session.parentOrigin);
  } catch {
    // A closed or navigated-away parent: nothing to tell.
  }
}

/**
 * Leaves the page after a result: back to the app, or closes the popup.
 * @param {Result} result
 */
function leave(result) {
  const kind = exitKind();
  if (kind === "popup") {
    window.close();
  } else if (kind === "return") {
    const url = returnUrlWith(result);
    if (url) window.location.assign(url);
  }
}

/** @param {string} message */
function fail(message) {
  finished = true;
  window.clearTimeout(pollTimer);
  $("error-text").textContent = message;
  show("view-error", message);
}

// ---------- choosing a provider ----------

function renderProviders() {
  if (!session) return;
  const list = $("provider-list");
  list.replaceChildren();
  for (const provider of session.providers) {
    const button = el("button", { className: "provider", attrs: { type: "button" } });
    const badge = el("span", { attrs: { "aria-hidden": "true" } });
    paintBadge(badge, provider);
    button.append(
      badge,
      el("span", { className: "name", text: provider.displayName }),
      el("span", { className: "chevron", text: "›", attrs: { "aria-hidden": "true" } }),
    );
    button.addEventListener("click", () => choose(provider));
    const item = el("li");
    item.append(button);
    list.append(item);
  }
  const subtitle = $("providers-subtitle");
  if (session.reauthorize && session.providers[0]) {
    $("providers-title").textContent = "Reconnect your account";
    subtitle.textContent = `Sign in to ${session.providers[0].displayName} again to keep the connection working.`;
  } else if (session.groupName) {
    subtitle.textContent = `Choose the service to connect to ${session.groupName}.`;
  }
  const cancel = $("cancel-button");
  cancel.hidden = !(session.parentOrigin && (framed || window.opener)) && !session.returnUrl;
}

/** @param {Provider} provider */
function choose(provider) {
  chosen = provider;
  $("providers-error").hidden = true;
  if (provider.inputs.length === 0) {
    start({});
    return;
  }
  renderInputs(provider);
  show("view-inputs", `Connect ${provider.displayName}`);
}

// ---------- inputs ----------

/**
 * Whether a value matches the catalog's pattern. Patterns are written for
 * grantd's (Rust) regex engine; one JavaScript cannot compile is left to
 * grantd, which checks every value again.
 * @param {string} pattern
 * @param {string} value
 */
function matches(pattern, value) {
  try {
    return new RegExp(pattern, "u").test(value);
  } catch {
    return true;
  }
}

/** @param {Provider} provider */
function renderInputs(provider) {
  paintBadge($("inputs-badge"), provider);
  $("inputs-title").textContent = `Connect ${provider.displayName}`;
  $("inputs-subtitle").textContent =
    provider.inputs.length === 1
      ? `${provider.displayName} needs one detail to find your account.`
      : `${provider.displayName} needs a few details to find your account.`;
  $("form-error").hidden = true;
  const container = $("inputs-fields");
  container.replaceChildren();
  provider.inputs.forEach((input, index) => {
    const id = `input-${index}`;
    const field = el("div", { className: "field" });
    const label = el("label", { text: input.label, attrs: { for: id } });
    if (!input.required) label.append(" ", el("span", { className: "optional", text: "(optional)" }));
    const control = el("input", {
      attrs: {
        id,
        name: input.field,
        type: "text",
        autocomplete: "off",
        autocapitalize: "none",
        spellcheck: "false",
        "aria-invalid": "false",
      },
    });
    if (input.required) control.required = true;
    const describedBy = [];
    field.append(label, control);
    if (input.docsUrl && /^https:\/\//.test(input.docsUrl)) {
      const hint = el("p", { className: "hint", attrs: { id: `${id}-hint` } });
      const link = el("a", {
        text: `Where do I find my ${input.label.toLowerCase()}?`,
        attrs: { href: input.docsUrl, target: "_blank", rel: "noopener noreferrer" },
      });
      hint.append(link);
      field.append(hint);
      describedBy.push(`${id}-hint`);
    }
    const error = el("p", { className: "error", attrs: { id: `${id}-error` } });
    error.hidden = true;
    field.append(error);
    describedBy.push(`${id}-error`);
    control.setAttribute("aria-describedby", describedBy.join(" "));
    control.addEventListener("input", () => setError(control, ""));
    container.append(field);
  });
}

/**
 * @param {HTMLInputElement} control
 * @param {string} message
 */
function setError(control, message) {
  control.setAttribute("aria-invalid", message ? "true" : "false");
  const error = document.getElementById(`${control.id}-error`);
  if (error) {
    error.textContent = message;
    error.hidden = !message;
  }
}

/** @returns {HTMLInputElement[]} */
function controls() {
  return Array.from($("inputs-fields").querySelectorAll("input"));
}

/** Checks every input; focuses the first bad one. */
function validate() {
  if (!chosen) return false;
  /** @type {HTMLInputElement | null} */
  let firstInvalid = null;
  for (const control of controls()) {
    const input = chosen.inputs.find((i) => i.field === control.name);
    if (!input) continue;
    const value = control.value.trim();
    let message = "";
    if (!value && input.required) {
      message = `Enter your ${input.label.toLowerCase()}.`;
    } else if (value && !matches(input.pattern, value)) {
      message = `“${value}” doesn't look like a valid ${input.label.toLowerCase()}.`;
    }
    setError(control, message);
    if (message && !firstInvalid) firstInvalid = control;
  }
  if (firstInvalid) {
    firstInvalid.focus();
    $("announcer").textContent = "Please correct the highlighted field.";
  }
  return !firstInvalid;
}

/** The typed values in the shape grantd's oauth-connect takes. */
function values() {
  /** @type {{providerWorkspaceRef?: string, providerMetadata?: Record<string, {value: string}>}} */
  const body = {};
  for (const control of controls()) {
    const value = control.value.trim();
    if (!value) continue;
    if (control.name === "providerWorkspaceRef") {
      body.providerWorkspaceRef = value;
    } else if (control.name.startsWith("providerMetadata.")) {
      body.providerMetadata = body.providerMetadata || {};
      body.providerMetadata[control.name.slice("providerMetadata.".length)] = { value };
    }
  }
  return body;
}

/**
 * Shows grantd's 400 issues next to the fields they name.
 * @param {any} problem
 * @param {HTMLElement} fallback
 */
function showIssues(problem, fallback) {
  const issues = (problem && Array.isArray(problem.issues) && problem.issues) || [];
  /** @type {string[]} */
  const unplaced = [];
  /** @type {HTMLInputElement | null} */
  let first = null;
  for (const issue of issues) {
    const name = String(issue.name || "").replace(/\.value$/, "");
    const control = controls().find((c) => c.name === name);
    if (control) {
      setError(control, String(issue.detail || "This value is not valid."));
      first = first || control;
    } else {
      unplaced.push(String(issue.detail || ""));
    }
  }
  if (unplaced.length || !first) {
    fallback.textContent =
      unplaced.filter(Boolean).join(" ") ||
      (problem && problem.detail) ||
      "The connection could not be started. Please try again.";
    fallback.hidden = false;
  }
  if (first) first.focus();
}

// ---------- the flow ----------

/** Opens an empty popup now, while the click still counts as the user's. */
function openPopup() {
  const left = Math.max(0, (window.screenX || 0) + ((window.outerWidth || POPUP_WIDTH) - POPUP_WIDTH) / 2);
  const top = Math.max(0, (window.screenY || 0) + ((window.outerHeight || POPUP_HEIGHT) - POPUP_HEIGHT) / 2);
  const features = `popup=yes,width=${POPUP_WIDTH},height=${POPUP_HEIGHT},left=${Math.round(left)},top=${Math.round(top)}`;
  /** @type {Window | null} */
  let opened = null;
  try {
    opened = window.open("about:blank", popupName(), features);
  } catch {
    opened = null;
  }
  if (opened && chosen) {
    try {
      opened.document.title = `Connecting ${chosen.displayName}…`;
      const note = opened.document.createElement("p");
      note.textContent = `Opening ${chosen.displayName}…`;
      note.style.font = "16px system-ui, sans-serif";
      note.style.margin = "2rem";
      opened.document.body.append(note);
    } catch {
      // Not ours to write into: it will be navigated anyway.
    }
  }
  return opened;
}

function popupName() {
  return `grantd-connect-${session ? session.id : "flow"}`;
}

/** @param {boolean} on */
function setBusy(on) {
  busy = on;
  for (const button of document.querySelectorAll("#view-providers button, #view-inputs button")) {
    /** @type {HTMLButtonElement} */ (button).disabled = on;
  }
  $("main").setAttribute("aria-busy", on ? "true" : "false");
}

/**
 * Asks grantd to start the flow, then sends the popup (or this window) there.
 * @param {object} inputs
 */
async function start(inputs) {
  if (busy || !chosen) return;
  setBusy(true);
  popup = openPopup();
  /** @type {ApiResponse | null} */
  let response = null;
  try {
    response = await api("connect/api/start", { method: "POST", body: { provider: chosen.name, ...inputs } });
  } catch {
    response = null;
  }
  setBusy(false);
  if (!response || !response.ok) {
    if (popup && !popup.closed) popup.close();
    popup = null;
    startFailed(response);
    return;
  }
  authorizationUrl = String(response.body.authorizationUrl);
  if (popup && !popup.closed) {
    popup.location.href = authorizationUrl;
    showWaiting();
    poll();
  } else {
    redirect(authorizationUrl);
  }
}

/** @param {ApiResponse | null} response */
function startFailed(response) {
  if (!response) {
    const area = chosen && chosen.inputs.length ? $("form-error") : $("providers-error");
    area.textContent = "grantd could not be reached. Check your connection and try again.";
    area.hidden = false;
    return;
  }
  if (response.status === 404) {
    fail("This link has expired. Go back to the application and start again.");
  } else if (response.status === 409) {
    fail("This link was already used. Go back to the application and start again.");
  } else if (chosen && chosen.inputs.length && response.status === 400) {
    showIssues(response.body, $("form-error"));
  } else {
    const area = chosen && chosen.inputs.length ? $("form-error") : $("providers-error");
    showIssues(response.body, area);
  }
}

/**
 * Popups blocked: this window goes to the provider; grantd's callback sends
 * it back to the return URL. In a frame, the whole tab goes (providers
 * refuse to be framed), when the browser lets the frame do that.
 * @param {string} url
 */
function redirect(url) {
  $("announcer").textContent = "Opening the sign-in page in this window…";
  if (framed) {
    try {
      if (window.top) {
        window.top.location.href = url;
        return;
      }
    } catch {
      // Not allowed to navigate the embedding page: use the frame itself.
    }
  }
  window.location.assign(url);
}

function showWaiting() {
  const name = chosen ? chosen.displayName : "the service";
  if (chosen) paintBadge($("waiting-badge"), chosen);
  $("waiting-title").textContent = `Sign in to ${name}`;
  $("waiting-text").textContent = `Finish signing in to ${name} in the window that opened. This page updates by itself.`;
  $("reopen-button").hidden = !authorizationUrl;
  show("view-waiting", `Waiting for ${name}`);
}

function reopen() {
  if (!authorizationUrl) return;
  if (popup && !popup.closed) {
    popup.focus();
    return;
  }
  /** @type {Window | null} */
  let opened = null;
  try {
    opened = window.open(authorizationUrl, popupName(), `popup=yes,width=${POPUP_WIDTH},height=${POPUP_HEIGHT}`);
  } catch {
    opened = null;
  }
  if (opened) {
    popup = opened;
  } else {
    redirect(authorizationUrl);
  }
}

/** Asks grantd for the result until it is there (or the session is gone). */
function poll() {
  window.clearTimeout(pollTimer);
  pollTimer = window.setTimeout(async () => {
    if (finished) return;
    /** @type {ApiResponse | null} */
    let response = null;
    try {
      response = await api("connect/api/session");
    } catch {
      response = null;
    }
    if (finished) return;
    if (response && response.ok && response.body && response.body.result) {
      finish(response.body.result);
    } else if (response && response.status === 404) {
      fail("This link has expired. Go back to the application and start again.");
    } else {
      poll();
    }
  }, POLL_MS);
}

/**
 * @param {Result} result
 * @param {string} name
 */
function describeFailure(result, name) {
  switch (result.error) {
    case "access_denied":
      return `Access was not granted in ${name}.`;
    case "csrf_rejected":
      return "The sign-in finished in another browser, so it was not accepted.";
    case "connection_deleted":
      return "The connection was deleted while you were signing in.";
    default: {
      const code = result.error || "unknown_error";
      return result.errorDescription ? `${name} reported ${code}: ${result.errorDescription}` : `${name} reported ${code}.`;
    }
  }
}

/**
 * Shows the result once, and tells the embedding page.
 * @param {Result} result
 */
function finish(result) {
  if (finished) return;
  finished = true;
  window.clearTimeout(pollTimer);
  if (!chosen && session) chosen = providerNamed(session.provider);
  notifyParent(result);
  const name = chosen ? chosen.displayName : "the service";
  const success = result.status === "success";
  const icon = $("done-icon");
  icon.className = `result ${success ? "success" : "failure"}`;
  icon.textContent = success ? "✓" : "!";
  const kind = exitKind();
  $("done-title").textContent = success ? `${name} is connected` : "The connection was not made";
  const next = {
    framed: "",
    popup: " You can close this window.",
    return: " Continue to go back to the application.",
    none: " You can close this window.",
  }[kind];
  $("done-text").textContent = success ? `Your account is connected.${next}` : describeFailure(result, name);
  const detail = $("done-detail");
  detail.hidden = success;
  detail.textContent = success ? "" : "To try again, go back to the application and start over.";
  const button = /** @type {HTMLButtonElement} */ ($("done-button"));
  button.hidden = kind === "framed" || kind === "none";
  button.textContent = kind === "popup" ? "Close this window" : "Continue";
  button.addEventListener("click", () => leave(result), { once: true });
  show("view-done", $("done-title").textContent || "");
}

function cancel() {
  const result = { status: "cancelled" };
  notifyParent(result);
  if (exitKind() === "framed") {
    fail("Cancelled. You can close this window.");
    return;
  }
  leave(result);
}

// ---------- start-up ----------

async function load() {
  if (!token) {
    fail("This page needs a connect session. Open it from the application you are connecting.");
    return;
  }
  /** @type {ApiResponse | null} */
  let response = null;
  try {
    response = await api("connect/api/session");
  } catch {
    response = null;
  }
  if (!response || !response.ok) {
    fail(
      response && response.status === 404
        ? "This link has expired or is not valid. Go back to the application and start again."
        : "Your connection options could not be loaded. Please reload the page.",
    );
    return;
  }
  session = /** @type {Session} */ (response.body);
  if (session.result) {
    finish(session.result);
    return;
  }
  if (session.status === "started") {
    chosen = providerNamed(session.provider);
    showWaiting();
    poll();
    return;
  }
  renderProviders();
  show("view-providers", "Choose the service you want to connect.");
}

window.addEventListener("message", (event) => {
  // Only grantd's own callback page, about this session.
  if (event.origin !== window.location.origin || !session) return;
  const data = event.data;
  if (!data || data.type !== "grantd:oauth" || data.sessionId !== session.id) return;
  finish({
    status: String(data.status),
    connectionId: data.connectionId,
    error: data.error,
    errorDescription: data.errorDescription,
  });
});

$("inputs-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("form-error").hidden = true;
  if (validate()) start(values());
});
$("back-button").addEventListener("click", () => {
  show("view-providers", "Choose the service you want to connect.");
});
$("cancel-button").addEventListener("click", cancel);
$("reopen-button").addEventListener("click", reopen);
document.addEventListener("visibilitychange", () => {
  // Back from the popup: look now rather than at the next tick.
  if (document.visibilityState === "visible" && popup && !finished) poll();
});

load();
