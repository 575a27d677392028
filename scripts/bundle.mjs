#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/run.js and everything it imports) into an ES module, dist/server.mjs,
// and the few chunks it shares with what it imports on demand (dist/chunks/): Node then reads and resolves
// a handful of files instead of ~700 modules, which halves start-up (~0.7 s → ~0.3 s) and idle memory
// (~110 → ~75 MiB RSS) on the 2-core machine. Modules loaded only on demand stay out of the start: the HTTP
// router and @effect/platform's HTTP server (~180 KB, with node:https and node:stream/promises) are chunks
// of their own, read on the first request that needs them (in one file, V8 parsed them and Node loaded
// their built-ins at start: forty starts each, alternating, main-thread CPU to "Listening" 350 → 320 ms,
// wall-clock medians 372 → 344 and 364 → 348 ms). The Redis client is left out of the bundle (it is
// imported from node_modules by clustered nodes only).
import { build } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
/**
 * @effect/cli's option module imports YAML, TOML and INI parsers for options read from files, which this
 * server does not offer; as CommonJS they would be evaluated at start-up (~0.7 MiB of idle RSS). Here they
 * stay out of the bundle and are required from node_modules on first use.
 */
const lazyConfigParsers = {
  name: "lazy-config-parsers",
  setup(bundle) {
    bundle.onResolve({ filter: /^(yaml|toml|ini)$/ }, (args) => ({ path: args.path, namespace: "lazy-config-parser" }))
    bundle.onLoad({ filter: /.*/, namespace: "lazy-config-parser" }, (args) => ({
      contents: `import { createRequire } from "node:module"; export const parse = (text) => createRequire(import.meta.url)(${JSON.stringify(args.path)}).parse(text);`,
      loader: "js"
    }))
  }
}

const outfile = path.join(root, "dist", "server.mjs")
// Chunk names carry a hash of their contents: the last build's would otherwise stay beside the new ones.
fs.rmSync(path.join(root, "dist", "chunks"), { recursive: true, force: true })
/** The V8 flags the command runs with (the bundle's first line; bench/measure.mjs reads them from there). */
const nodeFlags = "--max-semi-space-size=2"

await build({
  entryPoints: [path.join(root, "dist", "cli", "run.js")],
  outdir: path.dirname(outfile),
  entryNames: "server",
  chunkNames: "chunks/[name]-[hash]",
  outExtension: { ".js": ".mjs" },
  splitting: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["@redis/client"],
  // Whitespace and syntax only: names stay, so stack traces and profiles read as before; the source V8 keeps
  // for lazy compilation is a third smaller (~1 MiB of idle RSS). `node --enable-source-maps` maps lines back.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: "linked",
  plugins: [lazyConfigParsers],
  // CommonJS dependencies (ws, mpegts.js lookups) call require(); an ES module has none of its own.
  banner: {
    // The first line makes the bundle the `effect-rtmp` command that package.json's "bin" installs (and what
    // `npm start` runs), with V8's young generation capped at 2 MiB semi-spaces (V8's default grows to 16).
    // Media payloads are Buffers outside the V8 heap that die young; V8 schedules scavenges by the heap's own
    // allocation only, so with 16 MiB semi-spaces 16 publishers' dead payloads piled up to ~30 MB between
    // scavenges, and 1,000 joining players grew the young generation to 32 MiB. Measured (README, issue 13):
    // 16 publishers 112–115 → 94–95 MiB RSS at the same CPU, 1,000 RTMP players 136–146 → 112–117 MiB for ~7 %
    // more CPU per byte; 1,000 HTTP-FLV or LL-HLS viewers pay 11–12 % more CPU.
    // `node --max-semi-space-size=16 dist/server.mjs` restores V8's default. esbuild puts the banner on every
    // chunk too, where the first line is only a comment to Node.
    js: `#!/usr/bin/env -S node ${nodeFlags}\nimport { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);`
  },
  logLevel: "warning"
})
fs.chmodSync(outfile, 0o755)
