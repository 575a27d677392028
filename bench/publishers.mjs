#!/usr/bin/env node
// Many publishers, one player each: an in-process load generator (real ffmpeg publishers cost too much CPU
// to run 100 of them here). Each publisher replays the shared sample's FLV tags in real time over its own
// RTMP connection (our client session, 4096-byte chunks, as ffmpeg sends); each stream has one in-process
// player that counts bytes. The server's CPU and RSS over the hold come from /proc. Servers are started the
// way run.mjs starts them (effect-rtmp from dist/server.mjs with LL-HLS off, nginx-rtmp and
// node-media-server through ../shared/peers), one after another in one run. `npm run bench` runs it too
// (`manyPublishers`, --many-publishers 100; 0 leaves it out).
//
// usage: node bench/publishers.mjs [--publishers 100] [--hold 15] [--servers "effect nginx nms"] [--merge-writes S]
// (--merge-writes adds "effect-merged": effect-rtmp with `--merge-writes S`.)
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { ClientHandshake } from "../dist/protocol/handshake.js"
import { ClientSession, defaultClientOptions } from "../dist/session/client-session.js"
import { effectServer, flag, freePort, holdWindow, sharedSample, sleep, work } from "./measure.mjs"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const shared = path.resolve(root, "../shared")

/** The sample's tags: type, timestamp, body. */
export const readTags = (file) => {
  const bytes = fs.readFileSync(file)
  const tags = []
  for (let at = 13; at + 11 <= bytes.length; ) {
    const size = bytes.readUIntBE(at + 1, 3)
    const timestamp = bytes.readUIntBE(at + 4, 3) | (bytes[at + 7] << 24)
    tags.push({ type: bytes[at], timestamp, data: bytes.subarray(at + 11, at + 11 + size) })
    at += 11 + size + 4
  }
  return tags
}
let sample
let tags
/** The sample and its tags, read once (on the first measurement, not when the module loads). */
const loadSample = () => {
  if (tags !== undefined) return
  sample = sharedSample(30, 2500)
  tags = readTags(sample)
}

/** An RTMP connection through the handshake and connect; resolves with its session. */
const connect = (port, onEvent) =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.setNoDelay(true)
    const handshake = new ClientHandshake()
    let session
    socket.on("error", reject)
    socket.on("connect", () => socket.write(handshake.start()))
    socket.on("data", (bytes) => {
      if (session !== undefined) return session.receive(bytes)
      const step = handshake.receive(bytes)
      if (step.send !== undefined) socket.write(step.send)
      if (step._tag !== "Done") return
      session = new ClientSession({ ...defaultClientOptions("live", `rtmp://127.0.0.1:${port}/live`), chunkSize: 4096 }, (b) => socket.write(b), (event) => {
        if (event._tag === "Connected") session.createStream()
        else if (event._tag === "StreamCreated") resolve({ socket, session, streamId: event.streamId })
        else onEvent?.(event)
      })
      session.connect()
      if (step.rest.length > 0) session.receive(step.rest)
    })
  })

/**
 * `tags` replayed in real time by the clock, looped with continuing timestamps: `due(now)` calls
 * `send(tag, timestamp, index)` for every tag due `now` ms after the start (`offset` ms later, for a
 * publisher that started after the others).
 */
export const replay = (tags, send, offset = 0) => {
  const duration = tags.at(-1).timestamp + 40
  let next = 0
  let loop = 0
  return (now) => {
    while (loop * duration + tags[next].timestamp + offset <= now) {
      send(tags[next], loop * duration + tags[next].timestamp, next)
      if (++next === tags.length) (next = 0), loop++
    }
  }
}

/** Replays the sample in real time, looped, with continuing timestamps. */
const publisher = async (port, name) => {
  const { socket, session, streamId } = await connect(port)
  session.publish(streamId, name)
  const started = performance.now()
  const due = replay(tags, (tag, timestamp) => {
    if (tag.type === 8 || tag.type === 9) session.sendMedia(streamId, tag.type, timestamp, tag.data)
  })
  const timer = setInterval(() => due(performance.now() - started), 10)
  return { stop: () => (clearInterval(timer), socket.destroy()) }
}

const player = async (port, name) => {
  const state = { bytes: 0 }
  const { socket, session, streamId } = await connect(port)
  socket.on("data", (b) => (state.bytes += b.length))
  session.play(streamId, name)
  return { state, stop: () => socket.destroy() }
}

const startServer = async (name, mergeWrites) => {
  const port = await freePort()
  if (name === "effect" || name === "effect-merged") {
    const merge = name === "effect-merged" ? ["--merge-writes", mergeWrites] : []
    const child = spawn(...effectServer(["--host", "127.0.0.1", "--port", String(port), "--http-port", "0", "--no-hls", "--log-level", "warning", ...merge]), { stdio: "ignore" })
    await sleep(1000)
    return { port, pid: child.pid, stop: async () => child.kill("SIGKILL") }
  }
  const script = path.join(shared, "peers", name === "nginx" ? "nginx-rtmp.sh" : "nms.sh")
  const dir = path.join(work, name)
  const pid = Number(execFileSync(script, ["start", String(port), dir], { encoding: "utf8" }).trim().split("\n").pop())
  await sleep(1000)
  return { port, pid, stop: async () => void execFileSync(script, ["stop", dir], { stdio: "ignore" }) }
}

/**
 * One measurement: `name` ("effect", "effect-merged", "nginx" or "nms") freshly started, `publishers`
 * publishers and a player each (none with `players: false`), `hold` seconds. Returns one JSON-able result.
 */
export const manyPublishers = async (name, { publishers, hold, mergeWrites = "", players: withPlayers = true }) => {
  loadSample()
  const server = await startServer(name, mergeWrites)
  const sources = []
  const players = []
  try {
    for (let i = 0; i < publishers; i++) sources.push(await publisher(server.port, `p${i}`))
    if (withPlayers) for (let i = 0; i < publishers; i++) players.push(await player(server.port, `p${i}`))
    await sleep(4000)
    const before = players.map((p) => p.state.bytes)
    const window = await holdWindow(server.pid, hold)
    const received = players.reduce((sum, p, i) => sum + p.state.bytes - before[i], 0)
    const rate = fs.statSync(sample).size / 30
    const keptUp = players.filter((p, i) => p.state.bytes - before[i] >= 0.9 * rate * window.seconds).length
    return { server: name, publishers, kept_up: keptUp, cpu_pct: (100 * window.cpu) / window.seconds, rss_mib: window.rssMax, mbit_out: (8 * received) / window.seconds / 1e6 }
  } finally {
    sources.forEach((s) => s.stop())
    players.forEach((p) => p.stop())
    await server.stop()
    await sleep(1000)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const publishers = Number(flag("publishers", "100"))
  const hold = Number(flag("hold", "15"))
  const mergeWrites = flag("merge-writes", "")
  const servers = [...flag("servers", "effect nginx nms").split(/\s+/).filter(Boolean), ...(mergeWrites === "" ? [] : ["effect-merged"])]
  const results = []
  for (const name of servers) results.push(await manyPublishers(name, { publishers, hold, mergeWrites }))
  console.log(JSON.stringify(results))
  console.log(["", `${publishers} publishers × 1 player each (${hold} s hold)`, "", "| server | players kept up | CPU % of a core | RSS MiB | Mbit/s out |", "|---|---|---|---|---|",
    ...results.map((r) => `| ${r.server} | ${r.kept_up}/${r.publishers} | ${r.cpu_pct.toFixed(1)} | ${r.rss_mib.toFixed(0)} | ${r.mbit_out.toFixed(0)} |`)].join("\n"))
  process.exit(0)
}
