/**
 * Floods against the limits: 1,000 connections that handshake and then idle, and 1,000 that connect and
 * send nothing. A real publisher and player keep working throughout, memory stays bounded, and the
 * timeouts release everything afterwards.
 */
import { expect, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as net from "node:net"
import { ClientHandshake } from "../../src/protocol/handshake.js"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { connectClient, isMedia, isStatus, openStream } from "../support/client.js"
import { pingRequests, writeThenDrain } from "../support/floods.js"
import { waitUntil } from "../support/poll.js"
import { sleep } from "../support/processes.js"
import { testServer } from "../support/server.js"

const FLOOD = 1000

const open = (port: number, handshake: boolean) =>
  new Promise<net.Socket>((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.on("error", () => {})
    socket.on("data", () => {})
    socket.on("connect", () => {
      if (!handshake) return resolve(socket)
      const hs = new ClientHandshake()
      socket.removeAllListeners("data")
      socket.on("data", (bytes) => {
        const step = hs.receive(bytes)
        if (step.send) socket.write(step.send)
        if (step._tag === "Done") {
          socket.removeAllListeners("data")
          socket.on("data", () => {}) // reads, never answers a ping
          resolve(socket)
        }
      })
      socket.write(hs.start())
    })
  })

const openMany = async (port: number, n: number, handshake: boolean) => {
  const sockets: Array<net.Socket> = []
  for (let i = 0; i < n; i += 100) sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => open(port, handshake)))))
  return sockets
}

layer(
  // All test traffic comes from 127.0.0.1: the per-IP limit must leave room for the real publisher and player.
  testServer({
    // Long enough that nothing expires while the 2,000 connections are being opened.
    handshakeTimeout: Duration.seconds(10),
    pingInterval: Duration.seconds(8),
    pingTimeout: Duration.seconds(4),
    maxConnectionsPerIp: 2 * FLOOD + 10
  }),
  { excludeTestServices: true, timeout: 30_000 }
)("connection floods", (it) => {
  it.effect(`${FLOOD} idle-after-handshake and ${FLOOD} silent connections: the server serves a real stream, then releases all`, () =>
    Effect.gen(function* () {
      const server = yield* RtmpServer
      const port = server.address.port
      const result = yield* Effect.promise(async () => {
        const rssBefore = process.memoryUsage().rss
        const idle = await openMany(port, FLOOD, true)
        const silent = await openMany(port, FLOOD, false)
        // Connections the client sees as open may still wait in the accept queue for a moment.
        const acceptDeadline = Date.now() + 10_000
        while ((await Effect.runPromise(server.connectionCount)) < 2 * FLOOD && Date.now() < acceptDeadline) await sleep(100)
        const duringFlood = await Effect.runPromise(server.connectionCount)
        // A real publisher and player during the flood.
        const publisher = await connectClient(port)
        const pubId = await openStream(publisher)
        publisher.session.publish(pubId, "amid-flood")
        await publisher.waitFor(isStatus("NetStream.Publish.Start"))
        const player = await connectClient(port)
        const playId = await openStream(player)
        player.session.play(playId, "amid-flood")
        await player.waitFor(isStatus("NetStream.Play.Start"))
        for (let i = 0; i < 50; i++) {
          publisher.session.sendMedia(pubId, 9, i * 40, Buffer.from([i === 0 ? 0x17 : 0x27, 1, 0, 0, 0, i]))
          await sleep(10)
        }
        await player.waitFor((e) => isMedia(e) && e.message.payload[5] === 49, 10_000)
        const rssDuring = process.memoryUsage().rss
        // Silent ones hit the handshake timeout, idle ones the ping timeout.
        const deadline = Date.now() + 30_000
        while (Date.now() < deadline && (await Effect.runPromise(server.connectionCount)) > 2) await sleep(200)
        const after = await Effect.runPromise(server.connectionCount)
        const released = [...idle, ...silent].filter((s) => s.destroyed || s.readableEnded).length
        ;[...idle, ...silent].forEach((s) => s.destroy())
        publisher.close()
        player.close()
        return { duringFlood, after, released, rssGrowth: rssDuring - rssBefore }
      })
      process.stdout.write(
        `flood: ${result.duringFlood} connections held, RSS growth ${(result.rssGrowth / 1048576).toFixed(1)} MiB (clients and server), ` +
          `${result.released} released by the server's timeouts\n`
      )
      expect(result.duringFlood).toBe(2 * FLOOD)
      expect(result.after).toBe(2) // only the real publisher and player remain
      expect(result.released).toBe(2 * FLOOD)
      expect(result.rssGrowth).toBeLessThan(300 * 1024 * 1024) // client and server sockets both live in this process
    }), 90_000)
})

layer(testServer({ playerQueueSoftBytes: 256 * 1024, playerQueueHardBytes: 512 * 1024, gopCacheMaxBytes: 512 * 1024 }), { excludeTestServices: true, timeout: 30_000 })("answer floods", (it) => {
  it.effect("a client that sends pings and reads none of the answers is closed once they pass the unread limit", () =>
    Effect.gen(function* () {
      const server = yield* RtmpServer
      const closed = yield* Effect.promise(async () => {
        const client = await connectClient(server.address.port)
        await openStream(client)
        client.socket.pause() // reads nothing from here on
        const pings = pingRequests(1024 * 1024) // 1 MB at a time
        const connected = async () => (await Effect.runPromise(server.connectionCount)) > 0
        try {
          for (let sent = 0; sent < 256 && (await connected()); sent++) await writeThenDrain(client.socket, pings, 200)
          await waitUntil("the flooding client to be closed", async () => !(await connected()), 10_000)
          return !(await connected())
        } finally {
          client.socket.destroy()
        }
      })
      expect(closed).toBe(true)
    }), 60_000)
})
