#!/usr/bin/env node
// `node dist/bin.js`: the one-file bundle beside it (dist/server.mjs, built with the rest by `npm run build`)
// starts in a third of the time the ~700 compiled modules take to resolve and load; without it, the modules.
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

const bundle = new URL("./server.mjs", import.meta.url)
await (fs.existsSync(fileURLToPath(bundle)) ? import(bundle.href) : import("./cli/run.js"))
