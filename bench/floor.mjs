#!/usr/bin/env node
// What Node itself costs for an ingest, in steps: how far below nginx-rtmp effect-rtmp's ingest can go.
// `publishers` connections replay the shared sample in real time, as the many-publishers bench's publishers
// do (one socket write per message, 4096-byte chunks; here in a process of their own and without the RTMP
// handshake), into a bare Node server that does only:
//   read   — the bytes read the way effect-rtmp reads them (src/transport/socket-reads.ts: one shared buffer);
//   parse  — and parsed by effect-rtmp's chunk reader (src/protocol/chunk-reader.ts: every payload copied);
//   keep   — and each connection's messages since its last video keyframe kept, as a GOP cache keeps them
//            (so V8 has payloads that outlive the young generation to collect, as any server that serves a
//            joining player a keyframe at once);
//   heap   — the same with as many long-lived small objects on V8's heap as effect-rtmp has (--heap-mb):
//            the kept payloads count against V8's old-generation limit as external memory, so V8 marks the
//            whole heap every few seconds, and what a mark costs grows with the heap, not with the media.
// The bare server runs with effect-rtmp's node flags (its launcher's first line). Then effect-rtmp and
// nginx-rtmp under bench/publishers.mjs's publishers with no players. CPU % of a core from /proc over the hold.
//
// usage: node bench/floor.mjs [--publishers 16] [--hold 15] [--heap-mb 11]
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as v8 from "node:v8"
import { ChunkReader } from "../dist/protocol/chunk-reader.js"
import { encodeMessage } from "../dist/protocol/chunk-writer.js"
import { adoptAccepted } from "../dist/transport/socket-reads.js"
import { flag, freePort, holdWindow, launcherFlags, sharedSample, sleep } from "./measure.mjs"
import { manyPublishers, readTags, replay } from "./publishers.mjs"

const self = new URL(import.meta.url).pathname

/** `--send PORT N`: N connections replaying the sample's audio and video in real time, paced by the clock, looped. */
const send = (port, count) => {
  const tags = readTags(sharedSample(30, 2500)).filter((t) => t.type === 8 || t.type === 9)
  const setChunkSize = encodeMessage(2, 1, 0, 0, Buffer.of(0, 0, 0x10, 0), 128)
  const wire = tags.map((t) => encodeMessage(t.type === 9 ? 6 : 4, t.type, 1, t.timestamp, t.data, 4096))
  const connections = Array.from({ length: count }, (_, i) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.setNoDelay(true)
    socket.on("error", () => process.exit(0))
    socket.write(setChunkSize)
    // Staggered, as publishers that started apart; each loop resends the same bytes (the sink only counts the cost).
    return replay(tags, (_tag, _timestamp, index) => socket.write(wire[index]), (i * 37) % 1000)
  })
  const started = performance.now()
  setInterval(() => {
    const now = performance.now() - started
    for (const due of connections) due(now)
  }, 10)
}

/** Small objects that live as long as the process, until V8's heap holds `mb` MB: a bigger program's heap. */
const ballast = (mb) => {
  const kept = []
  while (v8.getHeapStatistics().used_heap_size < mb * 1e6) for (let i = 0; i < 1000; i++) kept.push({ id: i, tags: [i], name: `n${i % 100}` })
  return kept
}

/** `--sink MODE PORT HEAP_MB`: the bare server. */
const sink = (mode, port, heapMb) => {
  if (mode === "heap") globalThis.ballast = ballast(heapMb)
  const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
    const reads = adoptAccepted(accepted)
    reads.socket.on("error", () => {})
    if (mode === "read") return reads.onBytes(() => {})
    const reader = new ChunkReader()
    let gop = []
    const onMessage =
      mode === "keep" || mode === "heap"
        ? (message) => {
            if (message.typeId === 9 && message.payload[0] >> 4 === 1) gop = []
            gop.push(message)
          }
        : () => {}
    reads.onBytes((bytes) => reader.push(bytes, onMessage))
  })
  server.listen(port, "127.0.0.1")
}

const bare = async (mode, publishers, hold, heapMb) => {
  const port = await freePort()
  const server = spawn(process.execPath, [...launcherFlags(), self, "--sink", mode, String(port), String(heapMb)], { stdio: "ignore" })
  await sleep(500)
  const sender = spawn(process.execPath, [self, "--send", String(port), String(publishers)], { stdio: "ignore" })
  try {
    await sleep(4000)
    const window = await holdWindow(server.pid, hold)
    return { server: `node: ${mode === "heap" ? `keep, ${heapMb} MB heap` : mode}`, cpu_pct: (100 * window.cpu) / window.seconds, rss_mib: window.rssMax }
  } finally {
    sender.kill("SIGKILL")
    server.kill("SIGKILL")
    await sleep(500)
  }
}

const args = process.argv.slice(2)
if (args[0] === "--send") send(Number(args[1]), Number(args[2]))
else if (args[0] === "--sink") sink(args[1], Number(args[2]), Number(args[3]))
else {
  const publishers = Number(flag("publishers", "16"))
  const hold = Number(flag("hold", "15"))
  const results = []
  const heapMb = Number(flag("heap-mb", "11"))
  for (const mode of ["read", "parse", "keep", "heap"]) results.push(await bare(mode, publishers, hold, heapMb))
  for (const name of ["effect", "nginx"]) results.push(await manyPublishers(name, { publishers, hold, players: false }))
  const nginx = results.at(-1).cpu_pct
  console.log(JSON.stringify(results))
  console.log(["", `${publishers} real-time publishers, no players (${hold} s hold)`, "", "| what | CPU % of a core | ÷ nginx-rtmp | RSS MiB |", "|---|---|---|---|",
    ...results.map((r) => `| ${r.server} | ${r.cpu_pct.toFixed(2)} | ${(r.cpu_pct / nginx).toFixed(2)}× | ${r.rss_mib.toFixed(0)} |`)].join("\n"))
  process.exit(0)
}
