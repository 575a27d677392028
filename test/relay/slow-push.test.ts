/** A push whose remote stops reading is dropped and retried; the local publisher and players never notice. */
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import * as net from "node:net"
import { ServerHandshake } from "../../src/protocol/handshake.js"
import { pushId } from "../../src/relay/relays.js"
import { parseRtmpUrl } from "../../src/relay/url.js"
import { ServerSession } from "../../src/session/server-session.js"
import { connectClient, isMedia, isStatus, openStream } from "../support/client.js"
import { sleep } from "../support/processes.js"
import { startServer } from "../support/server.js"

/** Accepts connect and publish like a real server, then stops reading its socket. */
const stallingRemote = Effect.acquireRelease(
  Effect.async<{ server: net.Server; port: number; sockets: Set<net.Socket> }>((resume) => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      const handshake = new ServerHandshake()
      let session: ServerSession | undefined
      socket.on("data", (bytes) => {
        if (session !== undefined) return session.receive(bytes)
        const step = handshake.receive(bytes)
        if (step.send) socket.write(step.send)
        if (step._tag !== "Done") return
        const s: ServerSession = new ServerSession(
          { chunkSize: 4096, windowAckSize: 5e6, peerBandwidth: 5e6, maxStreams: 4, limits: { maxMessageSize: 1 << 22, maxChunkStreams: 8, maxBufferedBytes: 1 << 23 } },
          (b) => socket.write(b),
          {
            request: (r) => {
              if (r._tag === "Connect") s.acceptConnect(r.transactionId, 0, r.app ?? "")
              if (r._tag === "Publish") {
                s.sendStatus(r.streamId, "status", "NetStream.Publish.Start", "ok")
                socket.pause() // and never read again
                return
              }
              s.resume()
            },
            media: () => {},
            data: () => {}
          }
        )
        session = s
        s.receive(step.rest)
      })
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, port: (server.address() as net.AddressInfo).port, sockets })))
  }),
  ({ server, sockets }) =>
    Effect.sync(() => {
      sockets.forEach((s) => s.destroy())
      server.close()
    })
)

it.scopedLive("a stalled push remote is dropped and retried while local players keep receiving", () =>
  Effect.gen(function* () {
    const remote = yield* stallingRemote
    const target = parseRtmpUrl(`rtmp://127.0.0.1:${remote.port}/live/stuck`)
    const server = yield* startServer(
      { pushes: [{ app: "live", name: "src", remote: target }] },
      { playerQueueSoftBytes: 256 * 1024, playerQueueHardBytes: 1024 * 1024, playerMaxLag: Duration.seconds(1) }
    )
    const id = pushId("live", "src", target)
    const dropped = yield* server.health
      .waitFor(id, (status) => status._tag === "Backoff" && status.lastError.startsWith("SlowRemote"))
      .pipe(Effect.timeout("15 seconds"), Effect.fork)
    yield* Effect.promise(async () => {
      const publisher = await connectClient(server.port)
      const streamId = await openStream(publisher)
      publisher.session.publish(streamId, "src")
      await publisher.waitFor(isStatus("NetStream.Publish.Start"))
      const player = await connectClient(server.port)
      const playId = await openStream(player)
      player.session.play(playId, "src")
      await player.waitFor(isStatus("NetStream.Play.Start"))
      let n = 0
      const timer = setInterval(() => {
        for (let i = 0; i < 2; i++) {
          n++
          const frame = Buffer.alloc(16 * 1024, n & 0xff)
          frame[0] = n % 25 === 1 ? 0x17 : 0x27
          frame[1] = 1
          publisher.session.sendMedia(streamId, 9, n * 10, frame)
        }
      }, 10)
      await sleep(4000)
      clearInterval(timer)
      await sleep(200)
      const received = player.events.filter(isMedia).length
      expect(received).toBeGreaterThan(n * 0.9) // the player saw (nearly) everything
      expect(publisher.closed).toBe(false)
      expect(player.closed).toBe(false)
      publisher.close()
      player.close()
    })
    const status = yield* Fiber.join(dropped)
    expect(status._tag).toBe("Backoff")
  }), 30_000)
