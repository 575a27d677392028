/**
 * HTTP-FLV and WebSocket-FLV viewers: `GET /APP/STREAM.flv` answered with an endless FLV body, or the same
 * path upgraded to a WebSocket carrying FLV bytes in binary messages (what flv.js and mpegts.js expect).
 * Both go through `Access` like an RTMP player, share the viewer policy, and write the stream's shared
 * FLV tag Buffers straight to the socket (no chunked encoding, no per-write framing objects), batched
 * per publisher read like RTMP. A viewer that comes before the publisher waits up to
 * `--http-wait-timeout`, without an answer yet, and gets 404 if the stream never goes live.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as http from "node:http"
import type * as net from "node:net"
import type { WebSocket, WebSocketServer } from "ws"
import { Access } from "../core/access.js"
import { Connections } from "../core/connections.js"
import type { AccessRequest } from "../core/auth.js"
import { ServerConfig, viewerLimits } from "../core/config.js"
import { pollUntil } from "../core/periodic.js"
import type { LiveStream } from "../media/stream.js"
import { TrackFilter } from "../media/tracks.js"
import { Viewer } from "../media/viewer.js"
import { BatchedOutput, endSocket, inBatch, mergeWrites, ownWrites, sendGathered, type SocketWrites, socketWrites } from "../transport/write-batch.js"
import { decodeSegments, streamOf } from "../http/paths.js"
import { FlvSink, type FlvTransport } from "./sink.js"

/** `/APP/STREAM.flv` → app and name; the app may have several segments (`/live/sub/cam.flv`). */
export const parseFlvPath = (pathname: string): { readonly app: string; readonly name: string } | undefined =>
  pathname.endsWith(".flv") ? streamOf(decodeSegments(pathname.slice(1, -4).split("/"))) : undefined

/** An HTTP-FLV or WS-FLV viewer's output: batched writes to its socket, and how it ends. */
class ViewerOutput extends BatchedOutput implements FlvTransport {
  /** Set once a WebSocket starts closing, whoever closes it: nothing is written after its close frame. */
  closing = false

  constructor(
    writes: SocketWrites,
    readonly end: (reason: string, graceful: boolean) => void
  ) {
    super(writes)
  }

  override write(bytes: Uint8Array): void {
    if (!this.closing) super.write(bytes)
  }
}

export interface FlvRequest {
  readonly app: string
  readonly name: string
  readonly query: string
  readonly remoteAddress: string
  readonly connectionId: string
}

/** Why a viewer was not served: the status an HTTP client gets (a WebSocket is closed with 4000 + status). */
export interface Refusal {
  readonly status: 403 | 404
  readonly message: string
}

/** How often a viewer that came before the publisher looks again. */
const LIVE_POLL_MILLIS = 100

/** Polls (on the Effect clock) until the stream is live, for at most the wait timeout. */
const awaitLive = (stream: LiveStream, timeout: Duration.Duration) =>
  pollUntil(LIVE_POLL_MILLIS, () => stream.isLive).pipe(Effect.timeoutOption(timeout), Effect.map(Option.isSome))

/**
 * Serves one FLV viewer until its connection closes: admission, the wait for a publisher, then the
 * viewer on the stream. `open` is called once, when the body is about to start (HTTP writes its head);
 * `refuse` when it will not.
 */
const serveViewer = (
  request: FlvRequest,
  protocol: "http-flv" | "ws-flv",
  transport: FlvTransport,
  /** The connection under `transport`, whose writes `--merge-writes` holds. */
  socket: net.Socket,
  closed: Deferred.Deferred<void>,
  open: () => void,
  refuse: (refusal: Refusal) => void
) =>
  // The viewer's scope is passed by hand rather than provided (`Effect.scoped`), whose context copy and
  // frames the viewer's fiber would keep while it plays (~3 KB per viewer).
  Effect.flatMap(Scope.make(), (scope) => Effect.gen(function* () {
    const config = yield* ServerConfig
    const access = yield* Access
    const connections = yield* Connections
    const clock = yield* Effect.clock
    const sink = new FlvSink(transport, protocol)
    const viewer = new Viewer(sink, viewerLimits(config), () => clock.unsafeCurrentTimeMillis())
    // An FLV body is one video and one audio track: the default track, in whatever codec (mpegts.js and
    // flv.js players read E-RTMP HEVC/AV1 themselves or skip it).
    viewer.filter = TrackFilter.defaultTrack
    const accessRequest: AccessRequest = { ...request, protocol }
    const admitted = yield* access.play(accessRequest, viewer).pipe(Scope.extend(scope), Effect.either)
    if (admitted._tag === "Left") {
      yield* Effect.logWarning(`Play denied on app '${request.app}': ${admitted.left.reason}`)
      return refuse({ status: 403, message: "play denied" })
    }
    const stream = admitted.right
    yield* Scope.extend(scope)(connections.register({
      id: request.connectionId,
      remote: request.remoteAddress,
      protocol,
      connectedAt: clock.unsafeCurrentTimeMillis(),
      role: () => "viewer",
      stream: () => stream.key,
      bytesIn: () => 0,
      bytesOut: () => sink.bytesOut,
      queuedBytes: () => sink.queuedBytes(),
      droppedFrames: () => viewer.droppedFrames,
      kick: (reason) => transport.end(reason, false)
    }))
    const live = yield* awaitLive(stream, config.httpWaitTimeout).pipe(Effect.raceFirst(Deferred.await(closed).pipe(Effect.as(false))))
    if (!live) {
      if (!(yield* Deferred.isDone(closed))) refuse({ status: 404, message: `${stream.key} is not live` })
      return
    }
    open()
    inBatch(() => viewer.start(stream)) // headers and the GOP burst as one writev
    mergeWrites(socket, Duration.toMillis(config.mergeWrites)) // after the start: a joining viewer gets it at once
    yield* Effect.logInfo(`Playing ${stream.key} over ${protocol}`)
    yield* Deferred.await(closed)
    viewer.stop()
    yield* Effect.logInfo(`Stopped playing ${stream.key} over ${protocol} (${sink.bytesOut} bytes, ${viewer.droppedFrames} frames skipped)`)
  }).pipe(Effect.onExit((exit) => Scope.close(scope, exit))))

const plainResponse = (status: number, message: string, cors: string): string =>
  `HTTP/1.1 ${status} ${status === 403 ? "Forbidden" : status === 404 ? "Not Found" : "Bad Request"}\r\n` +
  `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(message) + 1}\r\n` +
  `Access-Control-Allow-Origin: ${cors}\r\nConnection: close\r\n\r\n${message}\n`

/** `GET /APP/STREAM.flv`: the body is written to the raw socket after a hand-written head (no chunked encoding). */
export const serveHttpFlv = (request: FlvRequest, incoming: http.IncomingMessage) =>
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const socket = incoming.socket
    const closed = yield* Deferred.make<void>()
    const onClose = () => Deferred.unsafeDone(closed, Exit.void)
    socket.once("close", onClose)
    if (socket.destroyed) onClose()
    const transport = new ViewerOutput(socketWrites(socket), (_reason, graceful) => {
      if (graceful) endSocket(socket)
      else socket.destroy()
    })
    const head =
      "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-cache, no-store\r\n" +
      `Access-Control-Allow-Origin: ${config.httpCors}\r\nConnection: close\r\n\r\n`
    yield* serveViewer(
      request,
      "http-flv",
      transport,
      socket,
      closed,
      () => {
        socket.write(head)
        // From here on only the viewer writes to the socket (Node's HTTP server never answers a request whose
        // response it was not given), so its handle can be remembered like an RTMP player's: the fan-out then
        // no longer reads the socket per viewer and frame for its backlog.
        ownWrites(socket)
      },
      (refusal) => void socket.end(plainResponse(refusal.status, refusal.message, config.httpCors))
    )
    if (!socket.destroyed) endSocket(socket)
  })

/** The same path as a WebSocket: auth before the upgrade (403), then FLV bytes in binary messages. */
export const serveWsFlv = (request: FlvRequest, incoming: http.IncomingMessage, socket: net.Socket, head: Buffer, wss: WebSocketServer) =>
  Effect.gen(function* () {
    const closed = yield* Deferred.make<void>()
    const ws = yield* Effect.async<WebSocket>((resume) => {
      wss.handleUpgrade(incoming, socket, head, (upgraded) => resume(Effect.succeed(upgraded)))
    })
    ws.on("close", () => Deferred.unsafeDone(closed, Exit.void))
    ws.on("error", () => Deferred.unsafeDone(closed, Exit.void))
    // Media goes to the socket under the WebSocket as ready-made binary messages (the sink frames them, once
    // for every WebSocket viewer), batched and written to the TCP handle like every viewer's bytes, not
    // through `ws.send` (a frame header, a stream write and their garbage per viewer and tag: ~23 MB/s at 400
    // viewers). `ws` still reads the client's frames and answers its pings and close.
    const transport = new ViewerOutput(socketWrites(socket), (reason, graceful) => {
      if (graceful) {
        sendGathered(socket) // the close frame goes after the media
        ws.close(1000, reason.slice(0, 100))
      } else ws.terminate()
    })
    // `ws` answers a client's close frame by calling its own `close`: from then on the viewer writes nothing,
    // as no data may follow a close frame (RFC 6455, 5.5.1) — not even media queued behind a slow reader.
    const close = ws.close.bind(ws)
    ws.close = (code?: number, data?: string | Buffer) => {
      transport.closing = true
      close(code, data)
    }
    yield* serveViewer(
      request,
      "ws-flv",
      transport,
      socket,
      closed,
      // From here on `ws` writes only whole frames of its own (pongs, the close), each in one write between
      // the viewer's, and nothing once it is closing: the viewer's writes may go to the handle unchecked,
      // as an RTMP player's do (see write-batch's `ownWrites`).
      () => void ownWrites(socket),
      (refusal) => ws.close(4000 + refusal.status, refusal.message.slice(0, 100))
    )
    if (ws.readyState === ws.OPEN) ws.close(1000, "stream ended")
  })
