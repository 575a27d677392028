// What every benchmark measurement shares: a server process tree's CPU and RSS from /proc, the hold window
// (CPU over it, RSS sampled every 250 ms), and percentiles.
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const shared = path.resolve(root, "../shared")
/** Where benchmarks keep samples, peer installs and results. */
export const work = process.env.RTMP_BENCH_DIR ?? "/tmp/rtmp-bench"

/**
 * How to start effect-rtmp as `npm start` and the `effect-rtmp` command do: the bundle with the node flags of
 * its first line (`#!/usr/bin/env -S node --max-semi-space-size=2 …`); EFFECT_NODE_FLAGS="--flag …" adds node
 * flags after them (a later V8 flag wins: heap sizes, profilers) for experiments. Returns `spawn`'s first two
 * arguments for the server's `args`.
 */
export const effectServer = (args) => {
  const bundle = path.join(root, "dist", "server.mjs")
  return ["node", [...launcherFlags(), ...(process.env.EFFECT_NODE_FLAGS ?? "").split(" ").filter(Boolean), bundle, ...args]]
}

/** The node flags of the `effect-rtmp` command: its launcher's first line. */
export const launcherFlags = () => {
  const shebang = fs.readFileSync(path.join(root, "dist", "server.mjs"), "utf8").split("\n", 1)[0]
  return (shebang.match(/^#!\/usr\/bin\/env -S node (.*)$/)?.[1] ?? "").split(" ").filter(Boolean)
}

/** `--name VALUE` from the command line, or `fallback`. */
export const flag = (name, fallback) => {
  const args = process.argv.slice(2)
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback
}

/** A free loopback TCP port. */
export const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = s.address().port
      s.close(() => resolve(port))
    })
  })

/** The shared sample (`../shared/media/make-sample.sh`): made once, its path returned. */
export const sharedSample = (seconds, kbps) => {
  fs.mkdirSync(work, { recursive: true })
  return execFileSync(path.join(shared, "media/make-sample.sh"), [path.join(work, `sample-${seconds}s-${kbps}k.flv`), String(seconds), String(kbps)], { encoding: "utf8" })
    .trim()
    .split("\n")
    .pop()
}

const CLK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? null : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

/** Every process of the tree rooted at `rootPid` (nginx: master and workers), with its CPU ticks and RSS (KiB). */
const processTree = (rootPid) => {
  const procs = []
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${entry}/status`, "utf8"))?.[1] ?? 0)
      procs.push({ pid: Number(entry), ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), rss })
    } catch {}
  }
  const inTree = new Set([rootPid])
  for (let grew = true; grew; ) {
    grew = false
    for (const p of procs) if (!inTree.has(p.pid) && inTree.has(p.ppid)) (inTree.add(p.pid), (grew = true))
  }
  return procs.filter((p) => inTree.has(p.pid))
}

/** User + system CPU seconds of a process tree. */
export const treeCpuSeconds = (rootPid) => processTree(rootPid).reduce((sum, p) => sum + p.ticks, 0) / CLK

/** Summed RSS of a process tree, MiB. */
export const treeRssMiB = (rootPid) => processTree(rootPid).reduce((sum, p) => sum + p.rss, 0) / 1024

/** Holds for `hold` seconds: the server tree's CPU over the window and its largest RSS. */
export const holdWindow = async (pid, hold) => {
  const cpu0 = treeCpuSeconds(pid)
  const t0 = Date.now()
  let rssMax = 0
  while (Date.now() - t0 < hold * 1000) {
    rssMax = Math.max(rssMax, treeRssMiB(pid))
    await sleep(250)
  }
  const seconds = (Date.now() - t0) / 1000
  const cpu = treeCpuSeconds(pid) - cpu0
  return { seconds, cpu, rssMax }
}

/** The figures every fan-out result carries. */
export const costFigures = ({ seconds, cpu, rssMax }, bytesHold) => ({
  seconds,
  server_cpu_s: cpu,
  server_cpu_pct: (100 * cpu) / seconds,
  bytes_hold: bytesHold,
  cpu_s_per_gb: bytesHold > 0 ? cpu / (bytesHold / 1e9) : null,
  server_rss_max_mib: rssMax
})
