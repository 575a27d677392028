#!/usr/bin/env node
// Memory per connection: RSS of `node dist/server.mjs` (as `npm start` runs it, HLS off) with N idle
// connections (handshake done, nothing else), with N RTMP players of one live stream (in-process clients of
// our own session code, reading everything), and with 16 real-time ffmpeg publishers: each in a freshly
// started server, against that server's own RSS before (V8 does not give back heap it grew, so one server
// for all three phases made later deltas meaningless). Prints the RSS and heap deltas per connection, and
// heap vs Buffers from /metrics at the end of each phase.
//
// usage: node bench/memory.mjs [--connections 500] [--publishers 16]
import { spawn } from "node:child_process"
import * as net from "node:net"
import { ClientHandshake } from "../dist/protocol/handshake.js"
import { ClientSession, defaultClientOptions } from "../dist/session/client-session.js"
import { effectServer, flag, freePort, sharedSample, sleep, treeRssMiB } from "./measure.mjs"

const count = Number(flag("connections", "500"))
const publishers = Number(flag("publishers", "16"))
const sample = sharedSample(30, 2500)

/**
 * A fresh server; `setup` (not counted) and then `run` add load and return what to close; prints the RSS
 * delta of `run` per connection. (The heap used includes garbage not yet collected, so it is shown in total.)
 */
const phase = async (label, per, setup, run) => {
  const port = await freePort()
  const httpPort = await freePort()
  const server = spawn(...effectServer(["--host", "127.0.0.1", "--port", String(port), "--http-port", String(httpPort), "--no-hls", "--log-level", "warning"]), { stdio: "ignore" })
  const closers = []
  try {
    await sleep(1500)
    closers.push(await setup(port))
    const idle = await settle(server)
    closers.push(await run(port))
    const loaded = await settle(server)
    const after = await metrics(httpPort)
    const each = (loaded - idle) / per
    console.log(
      `${label}: ${idle.toFixed(0)} → ${loaded.toFixed(0)} MiB RSS, ${each >= 1 ? `${each.toFixed(1)} MiB` : `${(each * 1024).toFixed(1)} KiB`} each; ` +
        `at the end heap used ${after.heap.toFixed(0)} MiB, Buffers ${after.buffers.toFixed(0)} MiB`
    )
    return idle
  } finally {
    closers.forEach((close) => close())
    server.kill("SIGKILL")
  }
}

const settle = async (server) => {
  await sleep(3000)
  return treeRssMiB(server.pid)
}

const metrics = async (httpPort) => {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const value = (name) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1] ?? 0) / 1048576
  return { heap: value("nodejs_heap_used_bytes"), buffers: value("nodejs_external_memory_bytes") }
}

/** A connection that completes the handshake (and, for a player, connect + play) and reads everything. */
const open = (port, play) =>
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

const publish = (port, name) =>
  spawn("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", sample, "-c", "copy", "-f", "flv", `rtmp://127.0.0.1:${port}/live/${name}`], { stdio: "ignore" })

const nothing = async () => () => {}
const idle = await phase(`${count} idle connections`, count, nothing, async (port) => {
  const sockets = []
  for (let i = 0; i < count; i++) sockets.push(await open(port, false))
  return () => sockets.forEach((s) => s.destroy())
})
console.log(`idle server: ${idle.toFixed(0)} MiB RSS`)
await phase(
  `${count} players of one publisher (the publisher is in the state before)`,
  count,
  async (port) => {
    const source = publish(port, "mem")
    return () => source.kill("SIGKILL")
  },
  async (port) => {
    const sockets = []
    for (let i = 0; i < count; i++) sockets.push(await open(port, true))
    return () => sockets.forEach((s) => s.destroy())
  }
)
await phase(`${publishers} real-time publishers`, publishers, nothing, async (port) => {
  const sources = Array.from({ length: publishers }, (_, i) => publish(port, `p${i}`))
  await sleep(2000)
  return () => sources.forEach((s) => s.kill("SIGKILL"))
})
