/**
 * The JSON API and the hostile side of the HTTP port, with a publisher, an RTMP player and two HTTP
 * viewers connected: counts, kicking with and without the token, and bad requests that get a 4xx or a
 * closed connection while viewers keep playing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Redacted } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import { playAs, syntheticPublisher } from "../support/client.js"
import { writeThenDrain } from "../support/floods.js"
import { waitUntil } from "../support/poll.js"
import { startHttpServer } from "../support/server.js"

interface Viewer {
  bytes: number
  closed: boolean
  request: http.ClientRequest
}

const watch = (url: string): Viewer => {
  const viewer: Viewer = { bytes: 0, closed: false, request: http.get(url) }
  viewer.request.on("response", (response) => {
    response.on("data", (c: Buffer) => (viewer.bytes += c.length))
    response.on("close", () => (viewer.closed = true))
  })
  viewer.request.on("error", () => (viewer.closed = true))
  return viewer
}

const getJson = async (url: string, init: RequestInit = {}) => {
  const response = await fetch(url, init)
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

/** Sends raw bytes and returns what the server answered before it closed (or the deadline). */
const raw = (port: number, request: string | Buffer, ms = 3000) =>
  new Promise<string>((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    let answer = ""
    socket.on("data", (d) => (answer += d.toString("latin1")))
    socket.on("error", () => {})
    socket.on("close", () => resolve(answer))
    socket.on("connect", () => socket.write(request))
    setTimeout(() => {
      socket.destroy()
      resolve(answer)
    }, ms)
  })

describe("API", () => {
  it.scopedLive("streams and connections count a publisher, an RTMP player and two HTTP viewers; kicking needs the token", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer({ apiToken: Option.some(Redacted.make("t0ken")) })
      yield* Effect.promise(async () => {
        const publisher = await syntheticPublisher(server.rtmpPort, "cam")
        const player = await playAs(server.rtmpPort, "cam")
        const viewers = [watch(`${server.base}/live/cam.flv`), watch(`${server.base}/live/cam.flv`)]
        try {
          await waitUntil("both HTTP viewers to get media", () => viewers.every((v) => v.bytes > 10_000))
          const { body: list } = await getJson(`${server.base}/api/v1/streams`)
          const streams = list.streams as Array<Record<string, unknown>>
          expect(streams).toHaveLength(1)
          expect(streams[0]).toMatchObject({ app: "live", name: "cam", live: true, viewers: { rtmp: 1, "http-flv": 2, "ws-flv": 0 } })
          const { status, body: one } = await getJson(`${server.base}/api/v1/streams/live/cam`)
          expect(status).toBe(200)
          expect(one).toMatchObject({ name: "cam", video: { codec: "h264", width: 320, height: 240 } })
          expect((await getJson(`${server.base}/api/v1/streams/live/none`)).status).toBe(404)

          await waitUntil("the RTMP player to get media", () => player.bytesReceived > 20_000)
          const playerReceived = player.bytesReceived
          const { body: open } = await getJson(`${server.base}/api/v1/connections`)
          const connections = open.connections as Array<Record<string, unknown>>
          // Every byte the player has read was counted as written to it (media goes by direct writes).
          const rtmpPlayer = connections.find((c) => c.role === "player") as Record<string, unknown>
          expect(rtmpPlayer.bytesOut as number).toBeGreaterThanOrEqual(playerReceived)
          expect(connections.map((c) => `${c.protocol}:${c.role}`).sort()).toEqual(["http-flv:viewer", "http-flv:viewer", "rtmp:player", "rtmp:publisher"])
          const httpViewer = connections.find((c) => c.protocol === "http-flv") as Record<string, unknown>
          expect(httpViewer.bytesOut as number).toBeGreaterThan(10_000)
          expect(JSON.stringify(open)).not.toMatch(/token|\?/)

          const kick = (headers: Record<string, string>) => fetch(`${server.base}/api/v1/connections/${String(httpViewer.id)}`, { method: "DELETE", headers })
          expect((await kick({})).status).toBe(401)
          expect((await kick({ authorization: "Bearer wrong" })).status).toBe(401)
          expect(viewers.some((v) => v.closed)).toBe(false)
          expect((await kick({ authorization: "Bearer t0ken" })).status).toBe(200)
          await waitUntil("the kicked viewer to be closed", () => viewers.filter((v) => v.closed).length === 1)
          expect(player.closed).toBe(false)
        } finally {
          viewers.forEach((v) => v.request.destroy())
          player.close()
          publisher.stop()
          publisher.client.close()
        }
      })
    }))

  it.scopedLive("without --api-token the write endpoints are refused", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer()
      const response = yield* Effect.promise(() => fetch(`${server.base}/api/v1/connections/c1`, { method: "DELETE", headers: { authorization: "Bearer anything" } }))
      expect(response.status).toBe(401)
      expect(yield* Effect.promise(() => response.text())).toMatch(/--api-token/)
    }))
})

describe("hostile HTTP", () => {
  it.scopedLive("dot segments, huge headers, unknown paths and bad methods get a 4xx; slowloris heads time out; 500 idle connections hurt no viewer", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer({ httpHeaderTimeout: Duration.seconds(1), httpWaitTimeout: Duration.seconds(1) })
      yield* Effect.promise(async () => {
        const publisher = await syntheticPublisher(server.rtmpPort, "cam")
        const viewer = watch(`${server.base}/live/cam.flv`)
        const idle: Array<net.Socket> = []
        try {
          expect(await raw(server.httpPort, "GET /live/../../etc/passwd.flv HTTP/1.1\r\nHost: x\r\n\r\n")).toMatch(/^HTTP\/1\.1 404/)
          expect(await raw(server.httpPort, "GET /%2e%2e/cam.flv HTTP/1.1\r\nHost: x\r\n\r\n")).toMatch(/^HTTP\/1\.1 404/)
          expect(await raw(server.httpPort, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431/)
          expect((await fetch(`${server.base}/no/such/page/at/all`)).status).toBe(200) // a watch page: it says offline by itself
          expect((await fetch(`${server.base}/api/v1/nothing`)).status).toBe(404)
          expect((await fetch(`${server.base}/healthz`, { method: "POST" })).status).toBe(404)
          expect(await raw(server.httpPort, "garbage\r\n\r\n")).toMatch(/^HTTP\/1\.1 400/)

          // Slowloris: a head that trickles in never completes, and the socket is closed by the header timeout.
          const slow = net.connect({ host: "127.0.0.1", port: server.httpPort })
          slow.on("error", () => {})
          slow.resume() // read, so the close is seen
          let slowClosed = false
          slow.on("close", () => (slowClosed = true))
          slow.write("GET / HTTP/1.1\r\n")
          const trickle = setInterval(() => slow.writable && slow.write("X-A: b\r\n"), 200)
          await waitUntil("the slowloris socket to be closed", () => slowClosed, 10_000)
          clearInterval(trickle)

          for (let i = 0; i < 500; i++) {
            const socket = net.connect({ host: "127.0.0.1", port: server.httpPort })
            socket.on("error", () => {})
            idle.push(socket)
          }
          const before = viewer.bytes
          await waitUntil("the viewer to keep receiving", () => viewer.bytes > before + 200_000, 10_000)
          expect(viewer.closed).toBe(false)
          expect((await fetch(`${server.base}/healthz`)).status).toBe(200)
        } finally {
          idle.forEach((s) => s.destroy())
          viewer.request.destroy()
          publisher.stop()
          publisher.client.close()
        }
      })
    }), 60_000)

  it.scopedLive("pipelined requests are answered in order; a client that pipelines on and reads none of the answers is closed at --http-max-pipelined", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer({ httpMaxPipelined: 8 })
      yield* Effect.promise(async () => {
        const request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        // Eight at once, read: all answered.
        const polite = await raw(server.httpPort, request.repeat(7) + request.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"))
        expect(polite.match(/HTTP\/1\.1 200/g)).toHaveLength(8)

        const rude = net.connect({ host: "127.0.0.1", port: server.httpPort })
        let closed = false
        rude.on("error", () => {})
        rude.on("close", () => void (closed = true))
        rude.pause() // reads none of the answers
        const flood = Buffer.from(request.repeat(10_000))
        for (let i = 0; i < 200 && !closed; i++) {
          await writeThenDrain(rude, flood, 100)
        }
        await waitUntil("the flooding connection to be closed", () => closed, 10_000)
        expect((await fetch(`${server.base}/healthz`)).status).toBe(200)
      })
    }))
})
