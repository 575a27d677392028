#!/usr/bin/env node
// effect-rtmp's benchmark: effect-rtmp, nginx-rtmp and node-media-server side by side, in one run, on this
// machine. Each server is freshly started for every measurement, the order rotates per step (ABC, BCA, …),
// and the shared harness drives them: ../shared/bench/fanout.sh (players kept up, server CPU, RSS, TTFB),
// ../shared/bench/latency.sh (added delay, join time), plus our own publisher-ingest measurement
// (one high-bitrate publisher, no players: server CPU per ingested Mbit/s). Prints the raw figures and one
// Markdown table of ratios (effect-rtmp ÷ peer), and exits 1 when effect-rtmp's CPU per delivered byte at
// 400 players is above 1.2× nginx-rtmp's (median over --repeat runs).
//
// usage: npm run bench -- [--players "1 100 400 1000"] [--hold 20] [--repeat 1] [--servers "effect nginx nms"]
//                         [--sink-from 400] [--no-latency] [--no-ingest] [--ingest-publishers 16] [--ingest-repeat 1]
//                         [--many-publishers 100]
//                         [--http-viewers "400 1000"] [--no-http]
//                         [--ws-viewers "400"] [--hls-viewers "1000"] [--no-hls] [--merge-writes S] [--no-startup] [--startup-runs 10]
//                         [--out FILE.jsonl]
// HTTP-FLV fan-out (effect-rtmp and node-media-server only: nginx-rtmp has no HTTP-FLV) uses our own
// in-process HTTP viewers (bench/http-flv.mjs), WS-FLV its WebSocket viewers (--ws-viewers; --no-http drops both). EFFECT_NODE_FLAGS="--flag …" starts effect-rtmp's node with
// extra flags (V8 heap sizes, profilers) for experiments. --merge-writes S adds "effect-merged" to the fan-out
// and latency runs: effect-rtmp with `--merge-writes S`, its ratios to the peers beside the default's.
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { hlsFanout } from "./hls.mjs"
import { httpFlvFanout } from "./http-flv.mjs"
import { effectServer, flag, freePort, holdWindow, sharedSample, sleep, treeCpuSeconds, work } from "./measure.mjs"
import { startupTimes } from "./startup.mjs"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const shared = path.resolve(root, "../shared")
const args = process.argv.slice(2)
const has = (name) => args.includes(`--${name}`)
const playerCounts = flag("players", "1 100 400 1000").split(/\s+/).filter(Boolean).map(Number)
const hold = Number(flag("hold", "20"))
const repeat = Number(flag("repeat", "1"))
const servers = flag("servers", "effect nginx nms").split(/\s+/).filter(Boolean)
const mergeWrites = flag("merge-writes", "")
/** effect-rtmp as configured by default, and with --merge-writes when asked for. */
const effects = servers.includes("effect") ? ["effect", ...(mergeWrites === "" ? [] : ["effect-merged"])] : []
const fanoutServers = [...servers, ...effects.filter((name) => name !== "effect")]
const sinkFrom = Number(flag("sink-from", "400"))
const httpViewerCounts = has("no-http") ? [] : flag("http-viewers", "400 1000").split(/\s+/).filter(Boolean).map(Number)
const wsViewerCounts = has("no-http") ? [] : flag("ws-viewers", "400").split(/\s+/).filter(Boolean).map(Number)
const hlsViewerCounts = has("no-hls") ? [] : flag("hls-viewers", "1000").split(/\s+/).filter(Boolean).map(Number)
const out = flag("out", path.join(work, `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.jsonl`))
fs.mkdirSync(work, { recursive: true })

const log = (...parts) => process.stderr.write(`[bench] ${parts.join(" ")}\n`)

const record = (entry) => fs.appendFileSync(out, JSON.stringify(entry) + "\n")

const waitForPort = async (port, timeoutMs = 20000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const c = net.connect({ host: "127.0.0.1", port }, () => (c.destroy(), resolve(true)))
      c.on("error", () => resolve(false))
    })
    if (ok) return
    await sleep(100)
  }
  throw new Error(`nothing listens on ${port}`)
}

/** Starts one server; resolves with { pid, port, httpPort, stop }. */
const startServer = async (name, { hls = false, effectFlags = [] } = {}) => {
  const port = await freePort()
  const httpPort = await freePort()
  if (effects.includes(name)) {
    const flags = name === "effect-merged" ? ["--merge-writes", mergeWrites, ...effectFlags] : effectFlags
    const child = spawn(...effectServer(["--host", "127.0.0.1", "--port", String(port), "--http-port", String(httpPort), "--log-level", "warning", ...flags]), {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, NODE_ENV: "production" }
    })
    await waitForPort(port)
    return {
      pid: child.pid,
      port,
      httpPort,
      stop: async () => {
        child.kill("SIGTERM")
        await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)))
      }
    }
  }
  const script = path.join(shared, "peers", name === "nginx" ? "nginx-rtmp.sh" : "nms.sh")
  const dir = path.join(work, name)
  execFileSync(script, ["stop", dir], { stdio: "ignore" })
  // Each peer's HTTP side only when measured: nginx-rtmp's HLS muxing would otherwise cost it CPU in the RTMP runs.
  const env = name === "nms" ? { ...process.env, NMS_HTTP_PORT: String(httpPort) } : hls ? { ...process.env, NGINX_HLS_PORT: String(httpPort) } : process.env
  const pid = Number(execFileSync(script, ["start", String(port), dir], { encoding: "utf8", env }).trim().split("\n").pop())
  await waitForPort(port)
  if (name === "nms" || hls) await waitForPort(httpPort)
  return { pid, port, httpPort, stop: async () => void execFileSync(script, ["stop", dir], { stdio: "ignore" }) }
}

const runJson = (command, commandArgs, env = {}) =>
  new Promise((resolve) => {
    const child = spawn(command, commandArgs, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RTMP_BENCH_CACHE: work, ...env } })
    let stdout = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.on("close", (code) => {
      const line = stdout.trim().split("\n").pop()
      try {
        resolve({ code, result: JSON.parse(line) })
      } catch {
        resolve({ code, result: null })
      }
    })
  })

const ingest = async (name, sample, mbps) => {
  const server = await startServer(name)
  try {
    const url = `rtmp://127.0.0.1:${server.port}/live/ingest`
    const publisher = spawn("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", sample, "-c", "copy", "-f", "flv", url], {
      stdio: "ignore"
    })
    await sleep(3000)
    const cpu0 = treeCpuSeconds(server.pid)
    const t0 = Date.now()
    await sleep(hold * 1000)
    const cpu = treeCpuSeconds(server.pid) - cpu0
    const seconds = (Date.now() - t0) / 1000
    const alive = publisher.exitCode === null
    publisher.kill("SIGKILL")
    return { cpu_s: cpu, seconds, cpu_pct: (100 * cpu) / seconds, mbps, cpu_ms_per_mbit: (1000 * cpu) / (seconds * mbps), publisher_alive: alive }
  } finally {
    await server.stop()
  }
}

/** Starts after the players have joined, decodes 10 s with ffmpeg, and counts frames and decoder errors. */
const decodeWhileLoaded = async (port, holdSeconds) => {
  await sleep(Math.max(0, holdSeconds - 12) * 1000 + 12000)
  const seconds = 10
  return new Promise((resolve) => {
    const child = spawn("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-i", `rtmp://127.0.0.1:${port}/live/bench`, "-t", String(seconds), "-progress", "pipe:1", "-f", "null", "-"], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let progress = ""
    let errors = ""
    child.stdout.on("data", (d) => (progress += d))
    child.stderr.on("data", (d) => (errors += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60000)
    child.on("close", (code) => {
      clearTimeout(timer)
      const frames = Math.max(0, ...[...progress.matchAll(/^frame=(\d+)$/gm)].map((m) => Number(m[1])))
      resolve({ code, seconds, frames, decoder_errors: errors.split("\n").filter((l) => l.trim() !== "").length, first_errors: errors.slice(0, 400) })
    })
  })
}

/**
 * Samples effect-rtmp's /metrics every 5 s and keeps the sample with the largest RSS, split into V8 heap
 * (used, reserved), memory outside the heap (Buffers) and the rest, so the fan-out's RSS has a visible cause.
 * Not more often: one /metrics answer costs the server ~2.5 ms, which at 2 a second added a fifth to its
 * CPU at 100 players.
 */
const memoryAtPeak = (httpPort) => {
  let peak
  let stopped = false
  const mib = (text, name) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1] ?? NaN) / 1048576
  const poll = async () => {
    while (!stopped) {
      try {
        const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
        const sample = {
          rss_mib: mib(text, "process_resident_memory_bytes"),
          heap_used_mib: mib(text, "nodejs_heap_used_bytes"),
          heap_total_mib: mib(text, "nodejs_heap_total_bytes"),
          external_mib: mib(text, "nodejs_external_memory_bytes")
        }
        if (peak === undefined || sample.rss_mib > peak.rss_mib) peak = sample
      } catch {
        // the server is starting or stopping
      }
      await sleep(5000)
    }
  }
  void poll()
  return {
    stop: () => {
      stopped = true
      return peak
    }
  }
}

// --- the run -----------------------------------------------------------------------------------------------
log(`results → ${out}`)
execFileSync(path.join(shared, "peers/install.sh"), { stdio: ["ignore", "ignore", "inherit"] })
execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" })
const sample = sharedSample(30, 2500)

const rotate = (list, by) => list.map((_, i) => list[(i + by) % list.length])
// effect-rtmp's start-up, before the media runs load the machine (bench/startup.mjs).
if (servers.includes("effect") && !has("no-startup")) {
  log("start-up")
  for (const result of await startupTimes(Number(flag("startup-runs", "10")))) record({ kind: "startup", server: "effect", result })
}

let step = 0
for (let r = 0; r < repeat; r++) {
  for (const players of playerCounts) {
    for (const name of rotate(fanoutServers, step++)) {
      const mode = players >= sinkFrom ? "sink" : "rtmpdump"
      const server = await startServer(name)
      log(`fanout ${name} players=${players} (${mode}) hold=${hold}s`)
      // At the largest load, one real ffmpeg player decodes alongside the others during the hold.
      const decodeCheck = effects.includes(name) && players === Math.max(...playerCounts) ? decodeWhileLoaded(server.port, hold) : undefined
      const memory = name === "effect" ? memoryAtPeak(server.httpPort) : undefined
      const { code, result } = await runJson(
        path.join(shared, "bench/fanout.sh"),
        [`rtmp://127.0.0.1:${server.port}/live/bench`, String(players), String(hold), String(server.pid)],
        { PLAYER: mode, SAMPLE: sample }
      )
      const decoded = decodeCheck === undefined ? undefined : await decodeCheck
      const peak = memory?.stop()
      await server.stop()
      record({ kind: "fanout", server: name, players, mode, repetition: r, code, result })
      if (peak !== undefined) record({ kind: "fanout-memory", server: name, players, result: peak })
      if (decoded !== undefined) record({ kind: "decode", server: name, players, result: decoded })
    }
  }
}
if (!has("no-latency")) {
  for (const name of rotate(fanoutServers, step++)) {
    const server = await startServer(name)
    log(`latency ${name}`)
    const { code, result } = await runJson(path.join(shared, "bench/latency.sh"), [`rtmp://127.0.0.1:${server.port}/live/lat`], { SAMPLE: sample })
    await server.stop()
    record({ kind: "latency", server: name, code, result })
  }
}
if (!has("no-ingest")) {
  const mbps = 50
  const highRate = sharedSample(20, mbps * 1000)
  const actualMbps = (fs.statSync(highRate).size * 8) / 20 / 1e6
  for (const name of rotate(servers, step++)) {
    log(`ingest ${name} at ${actualMbps.toFixed(1)} Mbit/s`)
    record({ kind: "ingest", server: name, result: await ingest(name, highRate, actualMbps) })
  }
}

// Many real-time publishers, no players (an ingest front end): effect-rtmp as configured by default (LL-HLS
// packaged on demand), with --no-hls-on-demand (packaged from publish) and with --no-hls (what the peers do
// here), beside the peers. --ingest-repeat N runs every variant N times, in turn (their CPU varies by ~±10 %
// from run to run on a shared 2-core machine, so one run apiece can flip a goal); the table gives medians.
const ingestPublishers = has("no-ingest") ? 0 : Number(flag("ingest-publishers", "16"))
const ingestRepeat = Number(flag("ingest-repeat", "1"))
if (ingestPublishers > 0) {
  const sample2500 = sharedSample(30, 2500)
  const variants = servers.flatMap((name) =>
    name === "effect"
      ? [
          { name, label: "effect", effectFlags: [] },
          { name, label: "effect --no-hls-on-demand", effectFlags: ["--no-hls-on-demand"] },
          { name, label: "effect --no-hls", effectFlags: ["--no-hls"] }
        ]
      : [{ name, label: name, effectFlags: [] }]
  )
  for (let round = 0; round < ingestRepeat; round++) {
    for (const variant of rotate(variants, step++)) {
      const server = await startServer(variant.name, { effectFlags: variant.effectFlags })
      log(`ingest ${variant.label}: ${ingestPublishers} publishers`)
      const publishers = Array.from({ length: ingestPublishers }, (_, i) =>
        spawn("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", sample2500, "-c", "copy", "-f", "flv", `rtmp://127.0.0.1:${server.port}/live/in${i}`], { stdio: "ignore" })
      )
      try {
        await sleep(5000)
        const window = await holdWindow(server.pid, hold)
        record({ kind: "ingest-many", server: variant.label, publishers: ingestPublishers, round, result: { cpu_pct: (100 * window.cpu) / window.seconds, rss_mib: window.rssMax, alive: publishers.filter((p) => p.exitCode === null).length } })
      } finally {
        publishers.forEach((p) => p.kill("SIGKILL"))
        await server.stop()
      }
    }
  }
}

// Many publishers with a player each (bench/publishers.mjs: in-process publishers replaying the sample in
// real time; 100 real ffmpeg publishers would cost the machine more than the servers). Imported here, after
// the build above, as it loads the client session from dist/.
const manyPublisherCount = has("no-ingest") ? 0 : Number(flag("many-publishers", "100"))
if (manyPublisherCount > 0) {
  const { manyPublishers } = await import("./publishers.mjs")
  for (const name of rotate(servers, step++)) {
    log(`publishers ${name}: ${manyPublisherCount} × 1 player`)
    record({ kind: "publishers", server: name, publishers: manyPublisherCount, result: await manyPublishers(name, { publishers: manyPublisherCount, hold }) })
  }
}

const httpServers = servers.filter((s) => s !== "nginx")
const flvRuns = [...httpViewerCounts.map((viewers) => ({ kind: "http-flv", viewers })), ...wsViewerCounts.map((viewers) => ({ kind: "ws-flv", viewers }))]
for (const { kind, viewers } of flvRuns) {
  for (const name of rotate(httpServers, step++)) {
    const server = await startServer(name)
    log(`${kind} ${name} viewers=${viewers} hold=${hold}s`)
    try {
      const result = await httpFlvFanout({ server: { pid: server.pid, rtmpPort: server.port, httpPort: server.httpPort }, sample, viewers, hold, websocket: kind === "ws-flv" })
      record({ kind, server: name, viewers, result })
    } finally {
      await server.stop()
    }
  }
}

for (const viewers of hlsViewerCounts) {
  for (const name of rotate(servers.filter((s) => s !== "nms"), step++)) {
    const server = await startServer(name, { hls: true })
    log(`hls ${name} viewers=${viewers} hold=${hold}s`)
    const publisher = spawn("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", sample, "-c", "copy", "-f", "flv", `rtmp://127.0.0.1:${server.port}/live/bench`], { stdio: "ignore" })
    try {
      await sleep(6000) // a few segments exist (nginx writes its first when the second keyframe comes)
      const url = name === "effect" ? `http://127.0.0.1:${server.httpPort}/live/bench` : `http://127.0.0.1:${server.httpPort}/hls/bench.m3u8`
      const result = await hlsFanout({ kind: name === "effect" ? "llhls" : "classic", url, viewers, hold, pid: server.pid })
      record({ kind: "hls", server: name, viewers, result })
    } finally {
      publisher.kill("SIGKILL")
      await server.stop()
    }
  }
}

// --- report ------------------------------------------------------------------------------------------------
const entries = fs.readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l))
const median = (xs) => {
  const s = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b)
  return s.length === 0 ? null : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fanout = (name, players, pick) =>
  median(entries.filter((e) => e.kind === "fanout" && e.server === name && e.players === players && e.result).map((e) => pick(e.result)))
const cpuPerGB = (r) => (r.bytes_hold > 0 && r.server_cpu_s != null ? r.server_cpu_s / (r.bytes_hold / 1e9) : null)
const fmt = (x, digits = 1) => (x == null ? "–" : Number(x).toFixed(digits))
const ratio = (a, b) => (a == null || b == null || b === 0 ? "–" : `${(a / b).toFixed(2)}×`)
const peers = servers.filter((s) => s !== "effect")
const lines = []
/** One report table: its heading, columns and a row per run; nothing when there are no runs. True when shown. */
const table = (heading, columns, runs, row) => {
  if (runs.length === 0) return false
  lines.push("", heading, "", `| ${columns.join(" | ")} |`, `|${columns.map(() => "---").join("|")}|`)
  for (const run of runs) lines.push(`| ${row(run).join(" | ")} |`)
  return true
}
table(
  `### Fan-out (${hold} s hold, ${repeat} run(s), medians)`,
  ["players", "server", "kept up", "CPU % of a core", "CPU s per GB delivered", "RSS MiB", "TTFB p50 / p95 ms", "host busy %"],
  playerCounts.flatMap((players) => fanoutServers.map((name) => ({ players, name }))),
  ({ players, name }) => {
    const of = (pick) => fanout(name, players, pick)
    return [
      players,
      name,
      `${fmt(of((r) => r.players_ok), 0)}/${players}`,
      fmt(of((r) => r.server_cpu_pct)),
      fmt(of(cpuPerGB), 2),
      fmt(of((r) => r.server_rss_max_mib)),
      `${fmt(of((r) => r.ttfb_ms_median), 0)} / ${fmt(of((r) => r.ttfb_ms_p95), 0)}`,
      fmt(of((r) => r.host_cpu_busy_pct), 0)
    ]
  }
)
table(
  "### effect-rtmp's memory at its largest RSS in each fan-out run (from /metrics, MiB)",
  ["players", "RSS", "V8 heap used / reserved", "outside the heap (Buffers)", "the rest (code, stacks, malloc)"],
  entries.filter((e) => e.kind === "fanout-memory" && e.result),
  ({ players, result: m }) => [players, fmt(m.rss_mib), `${fmt(m.heap_used_mib)} / ${fmt(m.heap_total_mib)}`, fmt(m.external_mib), fmt(m.rss_mib - m.heap_total_mib - m.external_mib)]
)
table(
  "### Ratios (effect-rtmp ÷ peer; below 1 is better for CPU, RSS and TTFB)",
  ["players", "peer", "CPU per byte", "RSS", "TTFB p95"],
  playerCounts.flatMap((players) => effects.flatMap((mine) => (fanout(mine, players, cpuPerGB) == null ? [] : peers.map((peer) => ({ players, peer, mine }))))),
  ({ players, peer, mine }) => {
    const versus = (pick) => ratio(fanout(mine, players, pick), fanout(peer, players, pick))
    return [players, mine === "effect" ? peer : `${peer} (effect-merged ÷ ${peer})`, versus(cpuPerGB), versus((r) => r.server_rss_max_mib), versus((r) => r.ttfb_ms_p95)]
  }
)
table(
  "### Latency (one publisher, one rtmpdump player)",
  ["server", "delay p50 / p95 ms", "join: first byte / first keyframe ms", "frames lost"],
  entries.filter((e) => e.kind === "latency" && e.result),
  ({ server, result: r }) => [server, `${fmt(r.delay_ms?.median)} / ${fmt(r.delay_ms?.p95)}`, `${fmt(r.join_ttfb_ms, 0)} / ${fmt(r.join_first_keyframe_ms, 0)}`, r.frames_lost]
)
table(
  "### A real ffmpeg player under the largest load (10 s of the 30 fps sample)",
  ["server", "players", "frames decoded", "decoder error lines", "exit"],
  entries.filter((e) => e.kind === "decode" && e.result),
  ({ server, players, result: r }) => [server, players, r.frames, r.decoder_errors, r.code]
)
table(
  "### Ingest (one publisher, no players)",
  ["server", "Mbit/s", "CPU % of a core", "CPU ms per Mbit", "publisher alive"],
  entries.filter((e) => e.kind === "ingest"),
  ({ server, result: r }) => [server, fmt(r.mbps), fmt(r.cpu_pct), fmt(r.cpu_ms_per_mbit, 2), r.publisher_alive]
)
const manyRuns = entries.filter((e) => e.kind === "ingest-many")
// One row per variant: medians over its runs (the runs' own figures beside them when there are several).
const manyRows = [...new Set(manyRuns.map((e) => e.server))].map((server) => {
  const runs = manyRuns.filter((e) => e.server === server)
  const each = (f) => runs.map((e) => fmt(f(e.result))).join(" / ")
  return {
    server,
    publishers: runs[0].publishers,
    runs: runs.length,
    alive: Math.min(...runs.map((e) => e.result.alive)),
    cpu: median(runs.map((e) => e.result.cpu_pct)),
    rss: median(runs.map((e) => e.result.rss_mib)),
    cpuEach: each((r) => r.cpu_pct),
    rssEach: each((r) => r.rss_mib)
  }
})
const cpuOf = (label) => manyRows.find((row) => row.server === label)?.cpu
table(
  `### Ingest (${manyRows[0]?.publishers} real-time ffmpeg publishers of the 2.5 Mbit/s sample, no players; ${hold} s hold; medians of ${manyRows[0]?.runs} run(s))`,
  ["server", "publishers kept", "CPU % of a core", "RSS MiB", "CPU ÷ nginx", "CPU ÷ nms"],
  manyRows,
  (row) => [
    row.server,
    `${row.alive}/${row.publishers}`,
    row.runs > 1 ? `${fmt(row.cpu)} (${row.cpuEach})` : fmt(row.cpu),
    row.runs > 1 ? `${fmt(row.rss)} (${row.rssEach})` : fmt(row.rss),
    ratio(row.cpu, cpuOf("nginx")),
    ratio(row.cpu, cpuOf("nms"))
  ]
)
const publisherRuns = entries.filter((e) => e.kind === "publishers")
const publisherCpuOf = (name) => publisherRuns.find((e) => e.server === name)?.result.cpu_pct
table(
  `### ${publisherRuns[0]?.publishers} publishers × 1 player each (in-process publishers replaying the 2.5 Mbit/s sample; effect-rtmp with --no-hls; ${hold} s hold)`,
  ["server", "players kept up", "CPU % of a core", "RSS MiB", "Mbit/s out", "CPU ÷ nginx", "CPU ÷ nms"],
  publisherRuns,
  ({ server, result: r }) => [server, `${r.kept_up}/${r.publishers}`, fmt(r.cpu_pct), fmt(r.rss_mib, 0), fmt(r.mbit_out, 0), ratio(r.cpu_pct, publisherCpuOf("nginx")), ratio(r.cpu_pct, publisherCpuOf("nms"))]
)
for (const [kind, title, counts] of [["http-flv", "HTTP-FLV fan-out (in-process HTTP viewers", httpViewerCounts], ["ws-flv", "WS-FLV fan-out (in-process WebSocket viewers", wsViewerCounts]]) {
  const runs = entries.filter((e) => e.kind === kind && e.result)
  const shown = table(
    `### ${title}, ${hold} s hold)`,
    ["viewers", "server", "kept up", "CPU % of a core", "CPU s per GB delivered", "RSS MiB", "first byte p50 / p95 ms"],
    runs,
    ({ viewers, server, result: r }) => [viewers, server, `${r.kept_up}/${r.viewers}`, fmt(r.server_cpu_pct), fmt(r.cpu_s_per_gb, 2), fmt(r.server_rss_max_mib), `${fmt(r.first_byte_ms_p50, 0)} / ${fmt(r.first_byte_ms_p95, 0)}`]
  )
  if (shown) {
    for (const viewers of counts) {
      const perGb = (name) => median(runs.filter((e) => e.server === name && e.viewers === viewers).map((e) => e.result.cpu_s_per_gb))
      if (perGb("effect") != null && perGb("nms") != null) lines.push(`| ${viewers} | effect ÷ nms | | | ${ratio(perGb("effect"), perGb("nms"))} | | |`)
    }
  }
}
table(
  `### HLS (in-process players; effect-rtmp LL-HLS with blocking reloads, nginx-rtmp classic HLS with 1 s fragments; ${hold} s hold)`,
  ["viewers", "server", "receiving", "CPU % of a core", "CPU s per GB delivered", "RSS MiB", "age of newest media p50 / p95 ms", "errors"],
  entries.filter((e) => e.kind === "hls" && e.result),
  ({ viewers, server, result: r }) => [viewers, server, `${r.receiving}/${r.viewers}`, fmt(r.server_cpu_pct), fmt(r.cpu_s_per_gb, 2), fmt(r.server_rss_max_mib), `${fmt(r.latency_ms_p50, 0)} / ${fmt(r.latency_ms_p95, 0)}`, r.errors]
)
table(
  "### effect-rtmp's start-up (spawn → \"Listening\", timed from the bench's process; idle RSS 2 s later)",
  ["command", "runs", "median ms", "p90 ms", "min ms", "idle RSS MiB"],
  entries.filter((e) => e.kind === "startup"),
  ({ result: r }) => [r.label, r.runs, fmt(r.ms_median, 0), fmt(r.ms_p90, 0), fmt(r.ms_min, 0), fmt(r.idle_rss_mib)]
)
// The first table starts with the blank line that separates tables.
process.stdout.write(lines.join("\n").trimStart() + "\n")

const effect400 = fanout("effect", 400, cpuPerGB)
const nginx400 = fanout("nginx", 400, cpuPerGB)
if (effect400 != null && nginx400 != null) {
  const r = effect400 / nginx400
  process.stdout.write(`\nguard: CPU per byte at 400 players, effect-rtmp ÷ nginx-rtmp = ${r.toFixed(2)} (limit 1.20)\n`)
  if (r > 1.2) process.exit(1)
}
