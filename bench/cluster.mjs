#!/usr/bin/env node
// The cluster's scale note: what an edge costs. Two effect-rtmp nodes (the built CLI) on one Redis; N HTTP-FLV
// viewers on node B, with the stream (the shared 2.5 Mbit/s sample, real time) published on B itself, then
// published on A and pulled by B. B's CPU per delivered GB and RSS are compared, and the difference is the
// price of being an edge (one extra ingest over loopback).
//
// usage: node bench/cluster.mjs [--viewers 400] [--hold 15]
import { execFileSync, spawn } from "node:child_process"
import * as path from "node:path"
import { httpFlvFanout } from "./http-flv.mjs"
import { effectServer, flag, freePort, sharedSample, sleep } from "./measure.mjs"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const viewers = Number(flag("viewers", "400"))
const hold = Number(flag("hold", "15"))

execFileSync("npm", ["run", "build"], { cwd: root })
const sample = sharedSample(30, 2500)

const redisPort = await freePort()
const redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" })
await sleep(300)

const startNode = async (id) => {
  const [rtmpPort, httpPort] = [await freePort(), await freePort()]
  const child = spawn(...effectServer(["--host", "127.0.0.1", "--port", String(rtmpPort), "--http-port", String(httpPort), "--no-hls", "--log-level", "warning", "--cluster-redis", `redis://127.0.0.1:${redisPort}`, "--node-id", id]), { stdio: "ignore" })
  await sleep(1500)
  return { child, pid: child.pid, rtmpPort, httpPort }
}

const results = {}
try {
  for (const mode of ["local", "edge"]) {
    const [a, b] = [await startNode("A"), await startNode("B")]
    try {
      const publishTo = mode === "local" ? b.rtmpPort : a.rtmpPort
      results[mode] = await httpFlvFanout({ server: { pid: b.pid, rtmpPort: publishTo, httpPort: b.httpPort }, sample, viewers, hold })
    } finally {
      a.child.kill("SIGKILL")
      b.child.kill("SIGKILL")
      await sleep(500)
    }
  }
} finally {
  redis.kill("SIGKILL")
}
const row = (mode) => {
  const r = results[mode]
  return `| ${mode === "local" ? "published on B" : "published on A, pulled by B"} | ${r.kept_up}/${r.viewers} | ${r.server_cpu_pct.toFixed(1)} | ${r.cpu_s_per_gb.toFixed(2)} | ${r.server_rss_max_mib.toFixed(0)} |`
}
console.log(JSON.stringify(results))
console.log(["", `B with ${viewers} HTTP-FLV viewers (${hold} s hold)`, "", "| stream | kept up | B CPU % | B CPU s/GB | B RSS MiB |", "|---|---|---|---|---|", row("local"), row("edge")].join("\n"))
console.log(`edge ÷ local CPU per GB: ${(results.edge.cpu_s_per_gb / results.local.cpu_s_per_gb).toFixed(2)}`)
