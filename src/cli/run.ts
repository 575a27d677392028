/**
 * The program: parses the command line and serves until a signal. Bundled into `dist/server.cjs`, which
 * `dist/server.mjs` runs (what `npm start`, the `effect-rtmp` binary and `dist/bin.js` start).
 */
// Deep imports: the @effect/platform-node index also loads cluster, RPC and SQL support (~30 MiB RSS).
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { cli } from "./main.js"

cli(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true }))
