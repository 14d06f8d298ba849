// Bundles react-app.jsx with esbuild into <out-dir>/app.js and app.css,
// with the library's server URL fixed at build time as a React app's build
// would: `REACT_APP_AMP_SERVER` is read from `process.env` by
// @amp-labs/react, so it is defined here.
//
//   node build-react.mjs <grantd-origin> <out-dir>
import { build } from "esbuild";

const [server, outdir] = process.argv.slice(2);
if (!server || !outdir) {
  console.error("usage: node build-react.mjs <grantd-origin> <out-dir>");
  process.exit(2);
}
await build({
  entryPoints: { app: new URL("./react-app.jsx", import.meta.url).pathname },
  bundle: true,
  outdir,
  format: "esm",
  jsx: "automatic",
  minify: false,
  logLevel: "warning",
  define: {
    "process.env.REACT_APP_AMP_SERVER": JSON.stringify(server),
    "process.env.NODE_ENV": JSON.stringify("production"),
  },
});
