// A real, independent OAuth 2.0 authorization server for grantd's tests:
// oauth2-mock-server in library mode on 127.0.0.1 (a free port).
//
// Prints one JSON line {"port", "issuer"} once it listens, then one JSON line
// per token request ({"event":"token", …}) so that the test can check what
// grantd sent. Runs until stdin closes (the test process went away) or a
// signal arrives, so that it never outlives the test.
import { OAuth2Server } from "oauth2-mock-server";

const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");
await server.start(0, "127.0.0.1");

server.service.on("beforeResponse", (response, request) => {
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
server.service.on("beforeAuthorizeRedirect", (redirect) => {
  const line = {
    event: "authorize",
    redirectUri: `${redirect.url.origin}${redirect.url.pathname}`,
    hasState: redirect.url.searchParams.has("state"),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});

const { port } = server.address();
process.stdout.write(`${JSON.stringify({ port, issuer: server.issuer.url })}\n`);

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
