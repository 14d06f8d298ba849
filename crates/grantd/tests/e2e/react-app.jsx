// A customer's page embedding Ampersand's prebuilt UI (`@amp-labs/react`,
// unchanged from npm), pointed at grantd. Bundled by build-react.mjs, served
// from another origin than grantd's by the Rust test (tests/api/react_client.rs)
// and driven by react.e2e.mjs. What to show comes from the query string:
// ?apiKey=…&project=…&provider=…&groupRef=…&consumerRef=…
import { AmpersandProvider, ConnectProvider } from "@amp-labs/react";
import "@amp-labs/react/styles";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

const query = new URLSearchParams(window.location.search);
const param = (name) => query.get(name) || "";

// What the library reported through its callbacks, for the test to read.
// Kept outside React state: the callbacks must not re-render the page.
window.ampEvents = [];
const record = (kind) => (value) =>
  window.ampEvents.push({ kind, id: typeof value === "string" ? value : value?.id });
const onConnectSuccess = record("connected");
const onDisconnectSuccess = record("disconnected");

function App() {
  return (
    <AmpersandProvider options={{ apiKey: param("apiKey"), project: param("project") }}>
      <h1>Acme Cloud integrations</h1>
      <ConnectProvider
        provider={param("provider")}
        groupRef={param("groupRef")}
        groupName="Acme Org"
        consumerRef={param("consumerRef")}
        consumerName="Ada"
        onConnectSuccess={onConnectSuccess}
        onDisconnectSuccess={onDisconnectSuccess}
      />
    </AmpersandProvider>
  );
}

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
