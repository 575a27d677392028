/**
 * Malformed input of every kind closes only the offending connection: a concurrent publisher and player
 * carry on, and memory stays bounded.
 */
import { expect, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as net from "node:net"
import { encodeAll, amfObject } from "../../src/protocol/amf0.js"
import { encodeMessage } from "../../src/protocol/chunk-writer.js"
import { ClientHandshake } from "../../src/protocol/handshake.js"
import { encodeCommand, encodeSetChunkSize } from "../../src/protocol/messages.js"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { connectClient, isMedia, openStream, syntheticPublisher, type TestClient } from "../support/client.js"
import { sleep } from "../support/processes.js"
import { testServer } from "../support/server.js"

type Outcome = "closed-by-server" | "timeout"

/** Resolves when the server closes `socket`, or destroys it after `closeAfterMs`. */
const outcome = (socket: net.Socket, closeAfterMs: number): Promise<Outcome> =>
  new Promise((resolve) => {
    socket.on("error", () => {})
    const timer = setTimeout(() => {
      socket.destroy()
      resolve("timeout")
    }, closeAfterMs)
    socket.on("close", () => {
      clearTimeout(timer)
      resolve("closed-by-server")
    })
  })

/** A raw connection that completes the client handshake, then sends `afterHandshake`. */
const rawSession = (port: number, afterHandshake: ReadonlyArray<Buffer>, closeAfterMs = 5000): Promise<Outcome> => {
  const socket = net.connect({ port, host: "127.0.0.1" })
  const handshake = new ClientHandshake()
  let done = false
  socket.on("connect", () => socket.write(handshake.start()))
  socket.on("data", (bytes) => {
    if (done) return
    const step = handshake.receive(bytes)
    if (step.send !== undefined) socket.write(step.send)
    if (step._tag === "Done") {
      done = true
      for (const b of afterHandshake) socket.write(b)
    }
  })
  return outcome(socket, closeAfterMs)
}

/** A raw connection that sends `bytes` with no handshake. */
const rawBytes = (port: number, bytes: Buffer, closeAfterMs = 5000): Promise<Outcome> => {
  const socket = net.connect({ port, host: "127.0.0.1" }, () => socket.write(bytes))
  socket.on("data", () => {})
  return outcome(socket, closeAfterMs)
}

const connectCommand = encodeMessage(3, 20, 0, 0, encodeCommand("connect", 1, amfObject({ app: "live" })), 128)

const mediaCount = (client: TestClient) => client.events.filter(isMedia).length

layer(testServer({ handshakeTimeout: Duration.millis(500) }), { excludeTestServices: true, timeout: 30_000 })("bad input", (it) => {
  it.effect("every kind of malformed input closes only that connection; the healthy player never stalls", () =>
    Effect.gen(function* () {
      const port = (yield* RtmpServer).address.port
      yield* Effect.promise(async () => {
        const publisher = await syntheticPublisher(port, "healthy")
        const player = await connectClient(port)
        const playId = await openStream(player)
        player.session.play(playId, "healthy")
        await player.waitFor((e) => isMedia(e) && e.message.payload[0] === 0x17 && e.message.payload[1] === 1)
        const rssBefore = process.memoryUsage().rss

        const hugeDeclared = Buffer.concat([
          encodeMessage(2, 1, 0, 0, encodeSetChunkSize(0x7fffffff), 128),
          Buffer.from([0x04, 0, 0, 0, 0xff, 0xff, 0xff, 0x09, 1, 0, 0, 0]), // 16 MiB video message declared
          randomBytes(1000)
        ])
        const manyChunkStreams = Buffer.concat(
          Array.from({ length: 5000 }, (_, i) => {
            const csid = 64 + i
            return Buffer.from([0x01, (csid - 64) & 0xff, (csid - 64) >> 8, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 0x27])
          })
        )
        const truncatedConnect = (() => {
          const body = encodeAll(["connect", 1, amfObject({ app: "live", tcUrl: "rtmp://x/live" })])
          return encodeMessage(3, 20, 0, 0, body.subarray(0, body.length - 6), 128)
        })()

        const cases: Array<[string, Promise<Outcome>]> = [
          ["random bytes before the handshake", rawBytes(port, Buffer.concat([Buffer.of(0x47), randomBytes(3000)]))],
          ["RTMPE version byte", rawBytes(port, Buffer.concat([Buffer.of(6), randomBytes(1536)]))],
          ["silence (handshake timeout)", rawBytes(port, Buffer.alloc(0))],
          ["Set Chunk Size 2^31-1 and a huge declared message", rawSession(port, [connectCommand, hugeDeclared])],
          ["thousands of chunk stream ids", rawSession(port, [manyChunkStreams])],
          ["truncated AMF in connect", rawSession(port, [truncatedConnect])],
          ["a type-3 header on an unknown chunk stream", rawSession(port, [Buffer.from([0xc9, 1, 2, 3])])],
          ["publish before connect", rawSession(port, [encodeMessage(3, 20, 1, 0, encodeCommand("publish", 0, null, "x", "live"), 128)])]
        ]
        for (const [name, outcome] of cases) expect([name, await outcome]).toEqual([name, "closed-by-server"])

        // Random garbage after a valid handshake: whatever it decodes to, the server survives it.
        for (let i = 0; i < 20; i++) await rawSession(port, [connectCommand, randomBytes(4096)], 300)

        const before = mediaCount(player)
        await sleep(600)
        expect(mediaCount(player)).toBeGreaterThan(before + 20) // 100 messages/s expected
        expect(player.closed).toBe(false)
        expect(publisher.client.closed).toBe(false)
        expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024)
        publisher.stop()
        publisher.client.close()
        player.close()
      })
    }), 60_000)
})
