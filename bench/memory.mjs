#!/usr/bin/env node
// Memory per connection: RSS of `node dist/server.mjs` (as `npm start` runs it, HLS off) idle, then with
// N idle connections (handshake done, nothing else), then with N RTMP players of one live stream (in-process
// clients of our own session code, reading everything), then with 16 real-time ffmpeg publishers. Prints the
// RSS deltas per connection, and heap vs Buffers from /metrics at each step.
//
// usage: node bench/memory.mjs [--connections 500] [--publishers 16]
import { spawn } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import { ClientHandshake } from "../dist/protocol/handshake.js"
import { ClientSession, defaultClientOptions } from "../dist/session/client-session.js"
import { flag, sharedSample, sleep, treeRssMiB } from "./measure.mjs"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const count = Number(flag("connections", "500"))
const publishers = Number(flag("publishers", "16"))
const sample = sharedSample(30, 2500)

const [port, httpPort] = [19700, 18700]
const server = spawn("node", [path.join(root, "dist/server.mjs"), "--host", "127.0.0.1", "--port", String(port), "--http-port", String(httpPort), "--no-hls", "--log-level", "warning"], {
  stdio: "ignore",
  env: { ...process.env, ...(process.env.NO_TRIM_ENV === "1" ? {} : { MALLOC_TRIM_THRESHOLD_: "1073741824" }) }
})
const settle = async () => {
  await sleep(3000)
  return treeRssMiB(server.pid)
}

/** A connection that completes the handshake (and, for a player, connect + play) and reads everything. */
const open = (play) =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const handshake = new ClientHandshake()
    let session
    socket.on("connect", () => socket.write(handshake.start()))
    socket.on("error", () => {})
    socket.on("data", (bytes) => {
      if (session !== undefined) return session.receive(bytes)
      const step = handshake.receive(bytes)
      if (step.send !== undefined) socket.write(step.send)
      if (step._tag !== "Done") return
      if (!play) return resolve(socket)
      session = new ClientSession(defaultClientOptions("live", `rtmp://127.0.0.1:${port}/live`), (b) => socket.write(b), (event) => {
        if (event._tag === "Connected") session.createStream()
        else if (event._tag === "StreamCreated") session.play(event.streamId, "mem")
        else if (event._tag === "Status" && event.code === "NetStream.Play.Start") resolve(socket)
      })
      session.connect()
    })
  })

const publish = (name) =>
  spawn("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", sample, "-c", "copy", "-f", "flv", `rtmp://127.0.0.1:${port}/live/${name}`], { stdio: "ignore" })

const breakdown = async () => {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const value = (name) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1] ?? 0) / 1048576
  return `heap ${value("nodejs_heap_used_bytes").toFixed(0)} MiB, Buffers ${value("nodejs_external_memory_bytes").toFixed(0)} MiB`
}

try {
  const idle = await settle()
  console.log(`idle: ${idle.toFixed(0)} MiB RSS`)
  let sockets = []
  for (let i = 0; i < count; i++) sockets.push(await open(false))
  const withIdle = await settle()
  console.log(`${count} idle connections: ${withIdle.toFixed(0)} MiB → ${(((withIdle - idle) * 1024) / count).toFixed(1)} KiB each (${await breakdown()})`)
  sockets.forEach((s) => s.destroy())
  const source = publish("mem")
  const oneStream = await settle()
  console.log(`one publisher: ${oneStream.toFixed(0)} MiB (${await breakdown()})`)
  sockets = []
  for (let i = 0; i < count; i++) sockets.push(await open(true))
  const withPlayers = await settle()
  console.log(`${count} players: ${withPlayers.toFixed(0)} MiB → ${(((withPlayers - oneStream) * 1024) / count).toFixed(1)} KiB each (${await breakdown()})`)
  sockets.forEach((s) => s.destroy())
  source.kill("SIGKILL")
  await sleep(2000)
  const base = treeRssMiB(server.pid)
  const sources = Array.from({ length: publishers }, (_, i) => publish(`p${i}`))
  const withPublishers = await settle()
  console.log(`${publishers} publishers: ${withPublishers.toFixed(0)} MiB → ${((withPublishers - base) / publishers).toFixed(1)} MiB each over ${base.toFixed(0)} (${await breakdown()})`)
  sources.forEach((s) => s.kill("SIGKILL"))
} finally {
  server.kill("SIGKILL")
}
