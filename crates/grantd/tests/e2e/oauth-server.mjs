// A real, independent OAuth 2.0 authorization server for grantd's tests:
// oauth2-mock-server in library mode on 127.0.0.1 (a free port).
//
// oauth2-mock-server's /authorize answers at once with a redirect to the
// client. Real providers first show a sign-in page; /signin is one: it takes
// the same query as /authorize and shows an "Allow" link to it, so that a
// browser test can stop on the provider's page (and close the window there).
//
// Prints one JSON line {"port", "issuer"} once it listens, then one JSON line
// per token request ({"event":"token", …}) so that the test can check what
// grantd sent. Runs until stdin closes (the test process went away) or a
// signal arrives, so that it never outlives the test.
import { HttpServer, OAuth2Issuer, OAuth2Service } from "oauth2-mock-server";

/** @param {string} text */
const escapeHtml = (text) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] || c);

/**
 * The provider's sign-in page: "Allow" goes on to /authorize with the query.
 * @param {import("node:http").IncomingMessage} request
 * @param {import("node:http").ServerResponse} response
 */
function signInPage(request, response) {
  const query = new URL(request.url || "/", "http://provider").search;
  response.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
  response.end(
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>' +
      "<body><h1>Sign in to Mock OAuth</h1><p>grantd-e2e wants to access your account.</p>" +
      `<p><a href="/authorize${escapeHtml(query)}">Allow</a></p></body></html>`,
  );
}

const issuer = new OAuth2Issuer();
const service = new OAuth2Service(issuer);
const server = new HttpServer((request, response) => {
  if (new URL(request.url || "/", "http://provider").pathname === "/signin") {
    signInPage(request, response);
  } else {
    service.requestHandler(request, response);
  }
});
await issuer.keys.generate("RS256");
await server.start(0, "127.0.0.1");
issuer.url = `http://127.0.0.1:${server.address().port}`;

service.on("beforeResponse", (response, request) => {
  const body = request.body || {};
  const line = {
    event: "token",
    grantType: body.grant_type ?? null,
    pkce: typeof body.code_verifier === "string",
    clientAuth: request.headers.authorization ? "basic" : "body",
    status: response.statusCode,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});
service.on("beforeAuthorizeRedirect", (redirect) => {
  const line = {
    event: "authorize",
    redirectUri: `${redirect.url.origin}${redirect.url.pathname}`,
    hasState: redirect.url.searchParams.has("state"),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});

const { port } = server.address();
process.stdout.write(`${JSON.stringify({ port, issuer: issuer.url })}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try {
    await server.stop();
  } finally {
    process.exit(0);
  }
}
process.stdin.on("end", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
