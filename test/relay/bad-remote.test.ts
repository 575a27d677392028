/**
 * Bad remotes end in a typed error, a backoff and a log line; the server and its other relays carry on.
 */
import { expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as net from "node:net"
import { ServerHandshake } from "../../src/protocol/handshake.js"
import { RelayStatus } from "../../src/relay/health.js"
import { pullId } from "../../src/relay/relays.js"
import { parseRtmpUrl } from "../../src/relay/url.js"
import { ServerSession } from "../../src/session/server-session.js"
import { connectClient, isMedia, isStatus, openStream } from "../support/client.js"
import { startServer } from "../support/server.js"

/** A TCP server whose connections get `onConnection`; closed with the test's scope. */
const fakeRemote = (onConnection: (socket: net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.async<{ server: net.Server; port: number }>((resume) => {
      const sockets = new Set<net.Socket>()
      const server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
        onConnection(socket)
      })
      server.on("close", () => sockets.forEach((s) => s.destroy()))
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, port: (server.address() as net.AddressInfo).port })))
    }),
    ({ server }) =>
      Effect.sync(() => {
        server.close()
        server.emit("close")
      })
  )

/** Completes the handshake, then answers connect with `_error` NetConnection.Connect.Rejected. */
const rejectingRemote = (socket: net.Socket) => {
  const handshake = new ServerHandshake()
  let session: ServerSession | undefined
  socket.on("data", (bytes) => {
    if (session !== undefined) return session.receive(bytes)
    const step = handshake.receive(bytes)
    if (step.send) socket.write(step.send)
    if (step._tag !== "Done") return
    const s: ServerSession = new ServerSession(
      { chunkSize: 4096, windowAckSize: 5e6, peerBandwidth: 5e6, maxStreams: 4, limits: { maxMessageSize: 1 << 20, maxChunkStreams: 8, maxBufferedBytes: 1 << 21 } },
      (b) => socket.write(b),
      {
        request: (r) => {
          if (r._tag === "Connect") s.rejectConnect(r.transactionId, "go away")
        },
        media: () => {},
        data: () => {}
      }
    )
    session = s
    s.receive(step.rest)
  })
}

it.scopedLive("garbage handshake, _error on connect, and a silent server each end in a typed error and a backoff", () =>
  Effect.gen(function* () {
    const garbage = yield* fakeRemote((socket) => socket.write(Buffer.concat([Buffer.of(0x48), randomBytes(3000)])))
    const rejecting = yield* fakeRemote(rejectingRemote)
    const silent = yield* fakeRemote(() => {})
    const remotes = {
      garbage: parseRtmpUrl(`rtmp://127.0.0.1:${garbage.port}/live/a`),
      rejecting: parseRtmpUrl(`rtmp://127.0.0.1:${rejecting.port}/live/b`),
      silent: parseRtmpUrl(`rtmp://127.0.0.1:${silent.port}/live/c`)
    }
    const server = yield* startServer({
      pulls: [
        { remote: remotes.garbage, app: "live", name: "a" },
        { remote: remotes.rejecting, app: "live", name: "b" },
        { remote: remotes.silent, app: "live", name: "c" }
      ],
      timeout: Duration.millis(400)
    })
    const backoff = (id: string) => server.health.waitFor(id, (s) => s._tag === "Backoff").pipe(Effect.timeout("10 seconds"))
    const [g, r, s] = yield* Effect.all([
      backoff(pullId(remotes.garbage, "live", "a")),
      backoff(pullId(remotes.rejecting, "live", "b")),
      backoff(pullId(remotes.silent, "live", "c"))
    ], { concurrency: "unbounded" })
    const lastError = (status: RelayStatus) => (status._tag === "Backoff" ? status.lastError : "")
    expect(lastError(g)).toMatch(/^Handshake: RTMP version byte 72/)
    expect(lastError(r)).toMatch(/^Rejected: .*NetConnection\.Connect\.Rejected go away/)
    expect(lastError(s)).toMatch(/^Timeout: .*no handshake within/)
    // They keep retrying, and the server keeps serving.
    yield* server.health.waitFor(pullId(remotes.silent, "live", "c"), (st) => st._tag === "Backoff" && st.attempt >= 2).pipe(Effect.timeout("10 seconds"))
    yield* Effect.promise(async () => {
      const publisher = await connectClient(server.port)
      const id = await openStream(publisher)
      publisher.session.publish(id, "alive")
      await publisher.waitFor(isStatus("NetStream.Publish.Start"))
      const player = await connectClient(server.port)
      const pid = await openStream(player)
      player.session.play(pid, "alive")
      await player.waitFor(isStatus("NetStream.Play.Start"))
      publisher.session.sendMedia(id, 9, 0, Buffer.from([0x17, 0x01, 0, 0, 0, 1]))
      await player.waitFor(isMedia)
      publisher.close()
      player.close()
    })
  }), 30_000)
