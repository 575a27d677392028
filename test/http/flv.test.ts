/**
 * HTTP-FLV and WS-FLV against the in-process server with Node's own clients: the body's structure, the
 * wait for a publisher, 404 for a stream that never goes live, and authorization for HTTP playback.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as net from "node:net"
import WebSocket from "ws"
import { tokens, signToken } from "../../src/core/auth.js"
import { Redacted } from "effect"
import { syntheticPublisher, whilePublishing } from "../support/client.js"
import { writeThenDrain } from "../support/floods.js"
import { expectPlayableFlv, httpGet } from "../support/http.js"
import { waitUntil } from "../support/poll.js"
import { startHttpServer } from "../support/server.js"
import { maskedCloseFrame, maskedPing, serverFrames, wsUpgradeRequest } from "../support/ws-frames.js"

describe("HTTP-FLV and WS-FLV", () => {
  it.scopedLive("GET /live/NAME.flv: 200 video/x-flv with CORS; header, onMetaData, sequence header, keyframe, then live", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer()
      yield* Effect.promise(async () => {
        await whilePublishing(server.rtmpPort, "cam", async () => {
          await new Promise((r) => setTimeout(r, 300))
          const response = await httpGet(`${server.base}/live/cam.flv`, 1500)
          expect(response.status).toBe(200)
          expect(response.headers["content-type"]).toBe("video/x-flv")
          expect(response.headers["access-control-allow-origin"]).toBe("*")
          expect(response.headers["transfer-encoding"]).toBeUndefined()
          const tags = expectPlayableFlv(response.body)
          expect(tags.filter((t) => t.type === 9).length).toBeGreaterThan(40) // ~1.5 s at 50 fps
          expect(response.body[4]).toBe(0x05) // audio and video
        })
      })
    }))

  it.scopedLive("WS-FLV: the same bytes as binary WebSocket messages; pings answered between them", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer()
      yield* Effect.promise(async () => {
        await whilePublishing(server.rtmpPort, "ws", async () => {
          await new Promise((r) => setTimeout(r, 300))
          const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/live/ws.flv`)
          const messages: Array<Buffer> = []
          ws.on("message", (data: Buffer, binary: boolean) => {
            expect(binary).toBe(true)
            messages.push(data)
          })
          // The media goes to the socket's handle and `ws` writes its pongs through the socket: whole frames both.
          const pongs: Array<string> = []
          ws.on("pong", (data: Buffer) => void pongs.push(data.toString()))
          await waitUntil("WS-FLV media", () => messages.length > 20)
          for (let i = 0; i < 5; i++) {
            ws.ping(`p${i}`)
            await new Promise((r) => setTimeout(r, 30))
          }
          await waitUntil("WS-FLV media and every pong", () => messages.length > 60 && pongs.length === 5)
          expect(pongs).toEqual(["p0", "p1", "p2", "p3", "p4"])
          ws.close()
          expectPlayableFlv(Buffer.concat(messages))
        })
      })
    }))

  it.scopedLive("WS-FLV: when the publisher leaves, what was sent arrives whole, then a close 1000 that says why", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer()
      yield* Effect.promise(async () => {
        const publisher = await syntheticPublisher(server.rtmpPort, "leaving")
        const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/live/leaving.flv`)
        const messages: Array<Buffer> = []
        const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })))
        ws.on("message", (data: Buffer) => void messages.push(data))
        try {
          await waitUntil("WS-FLV media", () => messages.length > 30)
        } finally {
          publisher.stop()
          publisher.client.close()
        }
        const close = await closed
        expect(close).toEqual({ code: 1000, reason: "the publisher stopped" })
        expectPlayableFlv(Buffer.concat(messages))
      })
    }))

  it.scopedLive("WS-FLV: a client's close frame is answered by the server's last frame, also while media waits in the socket's queue", () =>
    Effect.gen(function* () {
      // Loose queue limits: the lagging viewer below keeps getting media rather than skipping or being dropped.
      const server = yield* startHttpServer({ playerQueueSoftBytes: 64 * 1024 * 1024, playerQueueHardBytes: 96 * 1024 * 1024 })
      yield* Effect.promise(async () => {
        const publisher = await syntheticPublisher(server.rtmpPort, "closing", 100_000) // ~5 MB/s: the socket's buffers fill in seconds
        const client = net.connect({ host: "127.0.0.1", port: server.httpPort })
        const received: Array<Buffer> = []
        let ended = false
        client.on("data", (bytes: Buffer) => void received.push(bytes))
        client.on("error", () => {})
        client.on("close", () => void (ended = true))
        try {
          client.write(wsUpgradeRequest("/live/closing.flv"))
          await waitUntil("WS-FLV media", () => Buffer.concat(received).length > 200_000)
          client.pause() // the client stops reading: the kernel's buffers fill, then the server's queue
          await waitUntil("media queued in the server behind the client", async () => ((await wsFlvViewers(server.base))[0]?.queuedBytes ?? 0) > 0, 20_000, 100)
          client.write(maskedCloseFrame(1000)) // it still sends: its close
          await new Promise((r) => setTimeout(r, 300)) // ~15 frames the server must not send after its close frame
          client.resume()
          await waitUntil("the server to close the connection", () => ended, 20_000)
        } finally {
          client.destroy()
          publisher.stop()
          publisher.client.close()
        }
        const bytes = Buffer.concat(received)
        const frames = serverFrames(bytes.subarray(bytes.indexOf("\r\n\r\n") + 4))
        const close = frames.findIndex((frame) => frame.opcode === 8)
        expect(close).toBeGreaterThan(0)
        expect(frames.slice(0, close).every((frame) => frame.opcode === 2)).toBe(true)
        expect(frames.length - 1 - close).toBe(0) // nothing after the close frame
      })
    }), 60_000)

  it.scopedLive("WS-FLV: a client that sends pings and reads none of the pongs is closed (ws ends a socket with 60 pongs pending)", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer({ httpWaitTimeout: Duration.seconds(60) })
      yield* Effect.promise(async () => {
        const client = net.connect({ host: "127.0.0.1", port: server.httpPort })
        client.on("error", () => {})
        client.write(wsUpgradeRequest("/live/nobody.flv"))
        try {
          await waitUntil("the WS-FLV viewer to wait for its stream", async () => (await wsFlvViewers(server.base)).length === 1)
          client.pause() // reads nothing from here on
          // Up to 64 MB of pings, 1 MB at a time (8,065 of the largest a control frame may be): their pongs would
          // pile up in the server's memory. `ws` answers them itself, through the socket's own queue (not the
          // viewer's), and bounds that queue (its `maxPendingAutoPongs`); this pins that it still does.
          const pings = Buffer.concat(Array.from({ length: 8065 }, () => maskedPing(125)))
          for (let sent = 0; sent < 64 && !client.destroyed; sent++) {
            await writeThenDrain(client, pings, 200)
            if ((await wsFlvViewers(server.base)).length === 0) break
          }
          await waitUntil("the flooding viewer to be closed", async () => (await wsFlvViewers(server.base)).length === 0, 10_000)
        } finally {
          client.destroy()
        }
      })
    }), 60_000)

  it.scopedLive("a viewer that comes first waits and starts when the stream goes live; one that never does gets 404", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer({ httpWaitTimeout: Duration.seconds(2) })
      yield* Effect.promise(async () => {
        const early = httpGet(`${server.base}/live/later.flv`, 2500)
        await new Promise((r) => setTimeout(r, 500))
        await whilePublishing(server.rtmpPort, "later", async () => {
          const response = await early
          expect(response.status).toBe(200)
          expectPlayableFlv(response.body)
          const started = Date.now()
          const missing = await httpGet(`${server.base}/live/never.flv`, 5000)
          expect(missing.status).toBe(404)
          expect(Date.now() - started).toBeGreaterThanOrEqual(1900)
        })
      })
    }))

  it.scopedLive("an HTTP-FLV viewer that sends garbage after its request is answered 400 and closed; another viewer keeps playing", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer()
      yield* Effect.promise(async () => {
        await whilePublishing(server.rtmpPort, "cam", async () => {
          await new Promise((r) => setTimeout(r, 300))
          const { port } = new URL(server.base)
          const rude = net.connect({ host: "127.0.0.1", port: Number(port) })
          let received = 0
          let closed = false
          const chunks: Array<Buffer> = []
          rude.on("data", (bytes: Buffer) => {
            received += bytes.length
            chunks.push(bytes)
          })
          rude.on("error", () => {})
          rude.on("close", () => void (closed = true))
          rude.write("GET /live/cam.flv HTTP/1.1\r\nHost: test\r\n\r\n")
          await waitUntil("the viewer's media", () => received > 10_000, 5000)
          // The viewer's bytes go straight to the socket's handle; Node's HTTP server answers the garbage
          // through the socket itself, and the connection ends rather than mixing the two for long.
          rude.write("\u0000\u0001 not a request\r\n\r\n")
          await waitUntil("the rude viewer's connection to close", () => closed, 5000)
          expect(Buffer.concat(chunks).includes("HTTP/1.1 400 Bad Request")).toBe(true)
          const other = await httpGet(`${server.base}/live/cam.flv`, 1500)
          expect(other.status).toBe(200)
          expectPlayableFlv(other.body)
        })
      })
    }))

  it.scopedLive("--protect-play covers HTTP-FLV: no token 403, a valid token plays", () =>
    Effect.gen(function* () {
      const secret = Redacted.make("s3cret")
      const server = yield* startHttpServer({}, tokens(secret, true))
      yield* Effect.promise(async () => {
        const expires = Math.floor(Date.now() / 1000) + 600
        const { client, stream } = await (async () => {
          const { publishAs } = await import("../support/client.js")
          const published = await publishAs(server.rtmpPort, `cam?token=${signToken(secret, "live", "cam", expires)}&expires=${expires}`)
          return { client: published.client, stream: published.streamId }
        })()
        client.session.sendMedia(stream, 9, 0, Buffer.from([0x17, 0x00, 0, 0, 0, 1]))
        client.session.sendMedia(stream, 9, 0, Buffer.from([0x17, 0x01, 0, 0, 0, 9]))
        const denied = await httpGet(`${server.base}/live/cam.flv`, 2000)
        expect(denied.status).toBe(403)
        const allowed = await httpGet(`${server.base}/live/cam.flv?token=${signToken(secret, "live", "cam", expires)}&expires=${expires}`, 800)
        expect(allowed.status).toBe(200)
        client.close()
      })
    }))
})

/** The server's WS-FLV viewers, from the API. */
const wsFlvViewers = async (base: string): Promise<Array<{ readonly queuedBytes: number }>> => {
  const { connections } = (await (await fetch(`${base}/api/v1/connections`)).json()) as { connections: Array<{ protocol: string; queuedBytes: number }> }
  return connections.filter((c) => c.protocol === "ws-flv")
}
