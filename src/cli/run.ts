/**
 * The program: parses the command line and serves until a signal. Bundled into `dist/server.cjs`, which
 * `dist/server.mjs` runs (what `npm start`, the `effect-rtmp` binary and `dist/bin.js` start).
 */
// Deep imports, and only the services @effect/cli needs (file system, path, terminal): the @effect/platform-node
// index also loads cluster, RPC and SQL support (~30 MiB RSS), and `NodeContext` a command executor and workers
// whose modules (streams, channels, sinks, schemas) cost ~20 ms of start-up to evaluate.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { cli } from "./main.js"

const cliEnvironment = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

cli(process.argv).pipe(Effect.provide(cliEnvironment), NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true }))
