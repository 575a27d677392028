#!/usr/bin/env node
// Start-up: how long from spawning the server until its "Listening" line, for the two ways users start it —
// the `effect-rtmp` command / `npm start` (`./dist/server.mjs`, node flags from its first line) and
// `node dist/bin.js` — and its RSS once idle. The clock runs here, in this process, from `spawn` to the line
// arriving on the pipe: no shell loop polling a log file, which on a 2-core machine competes with the start
// it is timing (a `grep` every 5 ms added ~100 ms). The two commands alternate so a busy spell hits both.
//
// usage: node bench/startup.mjs [--runs 10]   (npm run bench reports it too; --no-startup leaves it out)
import { spawn } from "node:child_process"
import * as path from "node:path"
import { flag, freePort, percentile, sleep, treeRssMiB } from "./measure.mjs"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")

/** The commands timed: label and argv (the bundle run as an executable, so its first line's flags apply). */
export const startupCommands = [
  { label: "./dist/server.mjs (npm start, effect-rtmp)", argv: [path.join(root, "dist", "server.mjs")] },
  { label: "node dist/bin.js", argv: ["node", path.join(root, "dist", "bin.js")] }
]

/** Milliseconds from spawn to "Listening"; with `rssAfterMs`, also the idle RSS (MiB) that long after. */
const startOnce = async (argv, rssAfterMs) => {
  const port = await freePort()
  const httpPort = await freePort()
  const t0 = process.hrtime.bigint()
  const child = spawn(argv[0], [...argv.slice(1), "--host", "127.0.0.1", "--port", String(port), "--http-port", String(httpPort)], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  const exited = new Promise((resolve) => child.once("exit", resolve))
  try {
    const ms = await new Promise((resolve, reject) => {
      let seen = ""
      const onData = (chunk) => {
        seen += chunk
        if (seen.includes("Listening")) resolve(Number(process.hrtime.bigint() - t0) / 1e6)
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      child.once("exit", (code) => reject(new Error(`${argv.join(" ")} exited (${code}) before "Listening": ${seen.slice(-300)}`)))
      setTimeout(() => reject(new Error(`${argv.join(" ")}: no "Listening" within 20 s`)), 20_000).unref()
    })
    if (rssAfterMs === undefined) return { ms }
    await sleep(rssAfterMs)
    return { ms, rss_mib: treeRssMiB(child.pid) }
  } finally {
    child.kill("SIGKILL")
    await exited
  }
}

/** Each command `runs` times, alternating; median, p90 and min ms, and the idle RSS of the last run of each. */
export const startupTimes = async (runs) => {
  const times = startupCommands.map(() => [])
  const rss = startupCommands.map(() => null)
  for (let i = 0; i < runs; i++) {
    for (const [j, { argv }] of startupCommands.entries()) {
      const last = i === runs - 1
      const r = await startOnce(argv, last ? 2000 : undefined)
      times[j].push(r.ms)
      if (last) rss[j] = r.rss_mib
    }
  }
  return startupCommands.map(({ label }, j) => ({
    label,
    runs,
    ms_median: percentile(times[j], 50),
    ms_p90: percentile(times[j], 90),
    ms_min: Math.min(...times[j]),
    idle_rss_mib: rss[j]
  }))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await startupTimes(Number(flag("runs", "10")))) {
    console.log(`${r.label}: "Listening" after ${r.ms_median.toFixed(0)} ms (median of ${r.runs}; p90 ${r.ms_p90.toFixed(0)}, min ${r.ms_min.toFixed(0)}), idle RSS ${r.idle_rss_mib.toFixed(1)} MiB`)
  }
}
