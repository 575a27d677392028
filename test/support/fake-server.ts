/**
 * A scripted RTMP server for relay tests: real handshake and server session, with each request answered
 * by the test (accept, reject, or stall). Closed with the test's scope.
 */
import { Effect } from "effect"
import * as net from "node:net"
import { ServerHandshake } from "../../src/protocol/handshake.js"
import { ServerSession, type SessionRequest } from "../../src/session/server-session.js"

const options = {
  chunkSize: 4096,
  windowAckSize: 5e6,
  peerBandwidth: 5e6,
  maxStreams: 4,
  limits: { maxMessageSize: 1 << 22, maxChunkStreams: 8, maxBufferedBytes: 1 << 23 }
}

/** `decide` answers each request; it must call `session.resume()` for the session to go on. */
export type Decide = (request: SessionRequest, session: ServerSession, socket: net.Socket) => void

/** A TCP server whose connections get `onConnection`, closed (with its sockets) at the end of the scope. */
export const fakeTcpServer = (onConnection: (socket: net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.async<{ server: net.Server; port: number; sockets: Set<net.Socket> }>((resume) => {
      const sockets = new Set<net.Socket>()
      const server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
        onConnection(socket)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, port: (server.address() as net.AddressInfo).port, sockets })))
    }),
    ({ server, sockets }) =>
      Effect.sync(() => {
        sockets.forEach((s) => s.destroy())
        server.close()
      })
  )

export const fakeRtmpServer = (decide: Decide) =>
  fakeTcpServer((socket) => {
    const handshake = new ServerHandshake()
    let session: ServerSession | undefined
    socket.on("data", (bytes) => {
      if (session !== undefined) return session.receive(bytes)
      const step = handshake.receive(bytes)
      if (step.send) socket.write(step.send)
      if (step._tag !== "Done") return
      const s: ServerSession = new ServerSession(options, (b) => socket.write(b), {
        request: (request) => decide(request, s, socket),
        media: () => {},
        data: () => {}
      })
      session = s
      s.receive(step.rest)
    })
  })
