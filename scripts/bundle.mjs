#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/run.js and everything it imports) into one CommonJS file,
// dist/server.cjs, and writes its launcher, dist/server.mjs (the `effect-rtmp` command, what `npm start`
// runs, and what `node dist/bin.js` starts), which runs it through a V8 code cache (src/cli/code-cache.ts).
// Node then reads a few files instead of ~700 modules (start-up ~0.7 → ~0.3 s, idle RSS ~110 → ~70 MiB
// on the 2-core machine), and with the cache V8 compiles none of the start-up's code again (a further
// ~100 ms). Modules imported on demand (@effect/platform's Node HTTP server, `ws`) are initialised on first
// use, and the built-ins only they need are loaded then; esbuild wraps such a module, and every ES module it
// imports, in a lazy initialiser, which slows the code inside (src/http/server.ts: keep our own modules out
// of what is imported on demand). The Redis client is left out of the bundle (clustered nodes require it).
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { build } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { cachePrefix } from "../dist/cli/code-cache.js"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const dist = path.join(root, "dist")
/**
 * @effect/cli's option module imports YAML, TOML and INI parsers for options read from files, which this
 * server does not offer; evaluated at start-up they cost ~0.7 MiB of idle RSS. Here they stay out of the
 * bundle and are required from node_modules on first use.
 */
const lazyConfigParsers = {
  name: "lazy-config-parsers",
  setup(bundle) {
    bundle.onResolve({ filter: /^(yaml|toml|ini)$/ }, (args) => ({ path: args.path, namespace: "lazy-config-parser" }))
    bundle.onLoad({ filter: /.*/, namespace: "lazy-config-parser" }, (args) => ({
      contents: `export const parse = (text) => require(${JSON.stringify(args.path)}).parse(text);`,
      loader: "js"
    }))
  }
}

const bundleFile = path.join(dist, "server.cjs")
const launcherFile = path.join(dist, "server.mjs")
/** The V8 flags the command runs with (the launcher's first line; bench/measure.mjs reads them from there). */
const nodeFlags = "--max-semi-space-size=2"
// What earlier builds left: split chunks and the ES-module bundle's map (the bundle is one CommonJS file now).
fs.rmSync(path.join(dist, "chunks"), { recursive: true, force: true })
fs.rmSync(path.join(dist, "server.mjs.map"), { force: true })

await build({
  entryPoints: [path.join(dist, "cli", "run.js")],
  outfile: bundleFile,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // import() of a bundled module becomes its lazy initialisation; of @redis/client, a require.
  supported: { "dynamic-import": false },
  external: ["@redis/client"],
  // Whitespace and syntax only: names stay, so stack traces and profiles read as before; the source V8 keeps
  // for lazy compilation is a third smaller (~1 MiB of idle RSS). The map serves profilers; with
  // `--enable-source-maps` the launcher runs the unbundled modules, each with its own map.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: "linked",
  plugins: [lazyConfigParsers],
  // The ES modules bundled here resolve files from their own URL (createRequire(import.meta.url)).
  define: { "import.meta.url": "__bundleUrl" },
  // The file is the function Node would wrap a CommonJS module in, compiled by V8 as read: wrapped at run time,
  // the 1.3 MB text would be held twice until a full GC (+1.2 MiB idle RSS, measured). The directive comes first.
  banner: {
    js: `// effect-rtmp, bundled: dist/server.mjs runs this function (src/cli/code-cache.ts)\n(function (exports, require, module, __filename, __dirname) {"use strict";const __bundleUrl = require("node:url").pathToFileURL(__filename).href;`
  },
  footer: { js: "})" },
  logLevel: "warning"
})

// The cache's name carries the bundle's content hash: a rebuild with other contents never reads an old cache
// (V8 checks only the source's length). The caches are written again below.
const buildId = createHash("sha256").update(fs.readFileSync(bundleFile)).digest("hex").slice(0, 16)
for (const name of fs.readdirSync(dist)) {
  if (name.startsWith(cachePrefix(bundleFile)) && (name.endsWith(".cache") || name.endsWith(".tmp"))) fs.rmSync(path.join(dist, name))
}

fs.writeFileSync(
  launcherFile,
  `#!/usr/bin/env -S node ${nodeFlags}
// The \`effect-rtmp\` command (package.json's "bin"; \`npm start\` runs it): the bundle beside it, through V8's code
// cache (src/cli/code-cache.ts). Written by scripts/bundle.mjs.
//
// The first line caps V8's young generation at 2 MiB semi-spaces (V8's default grows to 16). Media payloads are
// Buffers outside the V8 heap that die young; V8 schedules scavenges by the heap's own allocation only, so with
// 16 MiB semi-spaces 16 publishers' dead payloads piled up to ~30 MB between scavenges, and 1,000 joining players
// grew the young generation to 32 MiB. Measured (README, issue 13): 16 publishers 112–115 → 94–95 MiB RSS at the
// same CPU, 1,000 RTMP players 136–146 → 112–117 MiB for ~7 % more CPU per byte; 1,000 HTTP-FLV or LL-HLS
// viewers pay 11–12 % more CPU. \`node --max-semi-space-size=16 dist/server.mjs\` restores V8's default.
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { runBundle } from "./cli/code-cache.js"

const bundle = fileURLToPath(new URL("./server.cjs", import.meta.url))
// With --enable-source-maps, the modules the bundle was made of, each with its map: Node 20 maps no vm.Script's stack.
if (process.sourceMapsEnabled) await import("./cli/run.js")
else if (!fs.existsSync(bundle)) {
  console.error(\`effect-rtmp: \${bundle} is missing: the build did not finish (npm run build)\`)
  process.exitCode = 1
} else runBundle(bundle, { buildId: ${JSON.stringify(buildId)} })
`
)
fs.chmodSync(launcherFile, 0o755)

/**
 * Writes the code caches of the two ways of starting (`./dist/server.mjs` with the flags above; `node
 * dist/bin.js` and `node dist/server.mjs` without), so that the first start after a build is quick too:
 * servers on ephemeral loopback ports, stopped once their caches are written. A failure costs only that.
 */
const warm = (commands) =>
  new Promise((resolve) => {
    const children = commands.map((argv) =>
      spawn(argv[0], [...argv.slice(1), "--host", "127.0.0.1", "--port", "0", "--http-port", "0", "--log-level", "warning"], { stdio: "ignore" })
    )
    const deadline = Date.now() + 20_000
    const poll = setInterval(() => {
      const written = fs.readdirSync(dist).filter((name) => name.startsWith(cachePrefix(bundleFile, buildId)) && name.endsWith(".cache")).length
      if (written >= commands.length || Date.now() > deadline || children.every((child) => child.exitCode !== null)) {
        clearInterval(poll)
        for (const child of children) child.kill("SIGTERM")
        resolve(written)
      }
    }, 100)
  })
if (process.env.EFFECT_RTMP_NO_WARM === undefined) {
  const written = await warm([[launcherFile], [process.execPath, launcherFile]])
  if (written < 2) console.warn(`bundle: ${written} of 2 code caches written (start-up stays correct, only slower)`)
}
