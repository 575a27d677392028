#!/usr/bin/env node
// `node dist/bin.js`: the launcher beside it (dist/server.mjs, which runs the bundle dist/server.cjs through V8's
// code cache; built with the rest by `npm run build`) starts in a quarter of the time the ~700 compiled modules
// take to resolve, load and compile; without it, the modules.
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

const bundle = new URL("./server.mjs", import.meta.url)
await (fs.existsSync(fileURLToPath(bundle)) ? import(bundle.href) : import("./cli/run.js"))
