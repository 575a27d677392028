/**
 * One accepted TCP connection, from handshake to close, in its own scope and its one fiber: the socket,
 * the log files and every registry membership (publisher, players) are released when it ends, whatever
 * ends it. Bytes are handled synchronously as each read arrives (sans-IO session); decisions that need the
 * registry run in the connection's fiber, one at a time, in order (what it publishes and plays, and how
 * each request is decided: stream-requests.ts). Time limits (pings, publisher idle) are checked by the
 * Connections sweep (liveness.ts).
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as net from "node:net"
import { Access } from "../core/access.js"
import { Connections } from "../core/connections.js"
import { setFiberAnnotations } from "../core/fiber-annotations.js"
import { isProtocolError, type ProtocolError } from "../protocol/errors.js"
import { ServerHandshake } from "../protocol/handshake.js"
import { ServerSession, type SessionRequest } from "../session/server-session.js"
import { ServerConfig, unreadBytesLimit } from "../core/config.js"
import { type IoLog, type LogIoError, openIoLog } from "../transport/log-io.js"
import { type SocketReads, streamedReads } from "../transport/socket-reads.js"
import { BatchedOutput, endSocket, inBatchWith, ownWrites, type SocketWrites } from "../transport/write-batch.js"
import { Liveness } from "./liveness.js"
import type { RtmpTransport } from "./sinks.js"
import { ConnectionStreams } from "./stream-requests.js"

export class ConnectionClosed extends Data.TaggedError("ConnectionClosed")<{
  readonly reason: "PeerClosed" | "SocketError" | "SlowPlayer" | "Rejected" | "ShuttingDown" | "PingTimeout" | "PublisherIdle" | "TakenOver"
  readonly message: string
}> {}

export type ConnectionError = ConnectionClosed | ProtocolError

const connectionsTotal = Metric.counter("rtmp_connections_total")
const protocolErrors = Metric.counter("rtmp_protocol_errors_total")

const logClosed = (error: ConnectionError | LogIoError) =>
  error._tag === "ConnectionClosed" && (error.reason === "PeerClosed" || error.reason === "ShuttingDown")
    ? Effect.logInfo(`Connection closed: ${error.message}`)
    : error._tag === "ConnectionClosed" && error.reason === "SocketError"
      ? Effect.logInfo(`Connection lost: ${error.message}`)
      : Metric.increment(protocolErrors).pipe(Effect.zipRight(Effect.logWarning(`Connection closed: ${error._tag}: ${error.message}`)))

/**
 * Bytes a connection reads ahead while one of its requests is decided, before it stops reading until the
 * decision (flow control, nothing is refused): enough for the media a publisher sends during a slow
 * authorization, small beside the chunk reader's own bound.
 */
const MAX_PENDING_BYTES = 256 * 1024

/** Protocol errors end the connection as expected failures; anything else thrown is a bug (a defect). */
const exitFor = (cause: unknown): Exit.Exit<never, ConnectionError> => (isProtocolError(cause) ? Exit.fail(cause) : Exit.die(cause))

/**
 * The session's requests, handed from the socket's callbacks to the connection's fiber. Not an Effect
 * `Queue`: parked on one, a connection's fiber held ~5 KB more (measured with 5,000 parked fibers).
 */
class Requests {
  private readonly items: Array<SessionRequest | undefined> = []
  private waiting: ((request: SessionRequest | undefined) => void) | undefined = undefined
  offer(request: SessionRequest | undefined): void {
    const waiting = this.waiting
    if (waiting === undefined) return void this.items.push(request)
    this.waiting = undefined
    waiting(request)
  }
  /** The next request; `undefined` once the connection has ended. */
  readonly take: Effect.Effect<SessionRequest | undefined> = Effect.async<SessionRequest | undefined>((resume) => {
    if (this.items.length > 0) return resume(Effect.succeed(this.items.shift()))
    this.waiting = (request) => resume(Effect.succeed(request))
    return Effect.sync(() => {
      this.waiting = undefined
    })
  })
}

/** The connection's output, for its session and its players: every write logged (`--log-io`) and batched. */
class ConnectionOutput extends BatchedOutput implements RtmpTransport {
  constructor(
    writes: SocketWrites,
    private readonly ioLog: IoLog,
    /** Ends the connection for a player too slow for its stream. */
    readonly disconnect: (reason: string) => void
  ) {
    super(writes)
  }

  override write(bytes: Uint8Array): void {
    this.ioLog.output(bytes)
    super.write(bytes)
  }
}

/** Serves one connection until it closes; never fails (errors are logged and end only this connection). */
export const handleConnection = (connection: net.Socket | SocketReads, connectionId: string, protocol: "rtmp" | "rtmps" = "rtmp") => {
  const reads = "onBytes" in connection ? connection : streamedReads(connection)
  const socket = reads.socket
  /** Bytes kept past the read that brought them (handshake, early bytes, I/O log) are copied when borrowed. */
  const kept = (bytes: Buffer): Buffer => (reads.borrowed ? Buffer.from(bytes) : bytes)
  /** How the connection ended, once it has. */
  let closedWith: Exit.Exit<never, ConnectionError> | undefined
  // The connection's own scope, passed by hand rather than provided (`Effect.scoped`): providing it copied
  // the fiber's context and kept the scoping frames for the connection's lifetime (~3 KB per connection).
  const serve = (scope: Scope.CloseableScope) => Effect.gen(function* () {
    const config = yield* ServerConfig
    const access = yield* Access
    const connections = yield* Connections
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    yield* Metric.increment(connectionsTotal)

    const closed = yield* Deferred.make<void, ConnectionError>()
    /** The session's requests, then `undefined` once the connection ends. */
    const requests = new Requests()
    const fiber = yield* Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>((self) => Effect.succeed(self))
    /** Whether this fiber waits for the handshake or handles a request (an authorization may take seconds): the end interrupts it. */
    let handling = false
    let failed = false
    const ignore = () => {}
    let onBytes: (bytes: Buffer) => void = ignore
    const end = (exit: Exit.Exit<never, ConnectionError>) => {
      if (!failed) {
        requests.offer(undefined)
        closedWith = exit
      }
      failed = true
      // Later bytes are dropped, not left unread: reading on lets the peer's close be seen at once.
      onBytes = ignore
      Deferred.unsafeDone(closed, exit)
      if (handling) {
        handling = false
        fiber.unsafeInterruptAsFork(fiber.id())
      }
    }
    const fail = (error: ConnectionError) => end(Exit.fail(error))
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        // end() flushes what is queued; reading on (into nothing) sees the peer's close; destroy()
        // guarantees the socket goes even if the peer stalls.
        onBytes = ignore
        endSocket(socket)
        socket.resume()
        setTimeout(() => socket.destroy(), 2000).unref()
      })
    )
    // After the finalizer above: a log that cannot be opened still closes the socket.
    const ioLog = yield* openIoLog(config.logIoDir, connectionId).pipe(Scope.extend(scope))
    // Every write to the socket is made through this or by `endSocket` (the finalizer above).
    const output = new ConnectionOutput(ownWrites(socket), ioLog, (reason) => fail(new ConnectionClosed({ reason: "SlowPlayer", message: reason })))
    // The handshake's and the session's writes (answers to the client: never the media, which the viewer policy
    // bounds) are checked against the unread bytes a connection may leave: a client that sends pings or
    // commands and reads none of the answers is ended, rather than piling them up.
    const unreadLimit = unreadBytesLimit(config)
    const write = (bytes: Buffer) => {
      output.write(bytes)
      if (output.queuedBytes() > unreadLimit) {
        fail(new ConnectionClosed({ reason: "SlowPlayer", message: `more than ${unreadLimit} bytes of answers left unread (player-queue-hard-bytes + gop-cache-max-bytes)` }))
      }
    }

    /** Protocol errors are thrown by the sans-IO code; here they become this connection's failure. */
    const feed = (bytes: Buffer) => {
      try {
        onBytes(bytes)
      } catch (cause) {
        end(exitFor(cause))
      }
    }
    socket.on("error", (cause) => fail(new ConnectionClosed({ reason: "SocketError", message: cause.message })))
    socket.on("close", () => end(Exit.fail(new ConnectionClosed({ reason: "PeerClosed", message: "peer closed the connection" }))))

    // --- handshake -------------------------------------------------------------------------------------
    const handshake = new ServerHandshake()
    const handshakeDone = yield* Deferred.make<void>()
    // Bytes that arrive after C2 but before the session exists (the client does not wait) are kept.
    const early: Array<Buffer> = []
    onBytes = (bytes) => {
      const step = handshake.receive(kept(bytes))
      if (step.send !== undefined) write(step.send)
      if (step._tag === "Done") {
        if (step.rest.length > 0) early.push(step.rest)
        onBytes = (later) => void early.push(kept(later))
        socket.pause() // at most the read in flight lands in `early` until the session takes over
        Deferred.unsafeDone(handshakeDone, Exit.void)
      }
    }
    // Reads that came before this point are handed over now, to the handshake.
    reads.onBytes(
      Option.isSome(config.logIoDir)
        ? (bytes) => {
            ioLog.input(kept(bytes))
            inBatchWith(feed, bytes)
          }
        : (bytes) => inBatchWith(feed, bytes)
    )
    // The connection's end interrupts this wait, as it does a request, and one sleeping fiber enforces the
    // time limit: racing the handshake against the end and a timeout forked four fibers per connection.
    // `handling` is set before the fork, which may yield: an end in between interrupts rather than being missed.
    if (!failed) {
      handling = true
      const expiry = yield* Effect.sleep(config.handshakeTimeout).pipe(
        Effect.zipRight(
          Effect.sync(() =>
            fail(
              new ConnectionClosed({
                reason: "Rejected",
                message: `handshake not completed within ${Duration.format(config.handshakeTimeout)} (handshake-timeout)`
              })
            )
          )
        ),
        Effect.fork
      )
      yield* Deferred.await(handshakeDone)
      handling = false
      yield* Fiber.interrupt(expiry)
    }
    if (failed) return yield* Deferred.await(closed)
    yield* Effect.logDebug(`Handshake completed (${handshake.usedDigest ? "digest" : "simple"})`)

    // --- session -------------------------------------------------------------------------------------
    /** Checked once a second by the Connections sweep (see liveness.ts). */
    const liveness = new Liveness({
      pingIntervalMillis: Duration.toMillis(config.pingInterval),
      pingTimeoutMillis: Duration.toMillis(config.pingTimeout),
      publisherIdleMillis: Duration.toMillis(config.publisherIdleTimeout)
    })
    const session: ServerSession = new ServerSession(
      {
        chunkSize: config.chunkSize,
        windowAckSize: config.windowAckSize,
        peerBandwidth: config.peerBandwidth,
        maxStreams: config.maxStreamsPerConnection,
        limits: {
          maxMessageSize: config.maxMessageSize,
          maxChunkStreams: config.maxChunkStreams,
          maxBufferedBytes: config.maxBufferedBytes,
          maxChunkSize: config.maxChunkSize
        }
      },
      write,
      {
        // The socket is read on while a request is decided, so a peer that leaves meanwhile is seen at once
        // (an authorization may take seconds); what it sends waits in the session, up to a bound.
        request: (request) => requests.offer(request),
        // `streams` is made just below, from this session: it is called only once bytes are fed, after both exist.
        media: (message) => streams.media(message),
        data: (streamId, values, setDataFrame, timestamp) => streams.data(streamId, values, setDataFrame, timestamp)
      }
    )
    const streams = new ConnectionStreams({
      connectionId,
      protocol,
      socket,
      config,
      access,
      session,
      output,
      liveness,
      now,
      ended: () => failed,
      close: (reason, message) => fail(new ConnectionClosed({ reason, message }))
    })

    const watch = (at: number) => {
      switch (liveness.check(at, session.reader.bytesRead, streams.publishing.size > 0, streams.mediaMessages)) {
        case "alive":
          return
        case "ping":
          return session.sendUserControl({ event: 6, timestamp: at >>> 0 })
        case "pingTimeout":
          return fail(new ConnectionClosed({ reason: "PingTimeout", message: `no answer to a ping within ${Duration.format(config.pingTimeout)} (ping-timeout)` }))
        case "publisherIdle":
          return fail(
            new ConnectionClosed({ reason: "PublisherIdle", message: `publisher sent no media for ${Duration.format(config.publisherIdleTimeout)} (publisher-idle-timeout)` })
          )
      }
    }

    yield* Scope.extend(scope)(connections.register({
      id: connectionId,
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      protocol,
      connectedAt: now(),
      role: () => streams.role(),
      stream: () => streams.streamKey(),
      bytesIn: () => session.reader.bytesRead,
      bytesOut: () => socket.bytesWritten,
      // Bytes queued behind a slow reader (what a merge window holds is not: see write-batch).
      queuedBytes: () => output.queuedBytes(),
      droppedFrames: () => streams.droppedFrames(),
      kick: (reason) => fail(new ConnectionClosed({ reason: "Rejected", message: reason })),
      watch,
      requestReconnect: (tcUrl, description, force) => streams.requestReconnect(tcUrl, description, force)
    }))
    yield* Scope.addFinalizer(scope, streams.stopAll())

    /** Whether the bytes waiting for a decision are within their bound (reading stops past it). */
    const withinReadAhead = () => session.pendingBytes <= MAX_PENDING_BYTES
    if (!failed) {
      onBytes = (bytes) => {
        session.receive(bytes)
        if (!withinReadAhead()) socket.pause()
      }
    }
    for (const bytes of early.splice(0)) feed(bytes)
    if (!failed && withinReadAhead()) socket.resume()

    // This fiber handles the session's requests, one at a time (the session waits for each), until the
    // connection ends: no second fiber per connection. A request still being handled then is interrupted
    // by `end`, which interrupts this fiber: racing each request against the end instead forked two fibers
    // per request, and the registry finalizers a play or publish adds kept the forked fiber's copy of the
    // fiber refs for the connection's lifetime.
    for (;;) {
      const request = yield* requests.take
      if (request === undefined) break
      handling = true
      yield* streams.handle(request)
      handling = false
      try {
        session.resume()
        if (!failed && withinReadAhead()) socket.resume()
      } catch (cause) {
        end(exitFor(cause))
      }
    }
    return yield* Deferred.await(closed)
  })

  /** Logs how the connection ended (once, whatever ended it). */
  const logEnd = (exit: Exit.Exit<unknown, ConnectionError | LogIoError>): Effect.Effect<void> => {
    if (Exit.isSuccess(exit)) return Effect.void
    const reason = Cause.isInterruptedOnly(exit.cause) && closedWith !== undefined && Exit.isFailure(closedWith) ? closedWith.cause : exit.cause
    const error = Cause.failureOption(reason)
    if (Option.isSome(error)) return logClosed(error.value)
    return Cause.isInterruptedOnly(reason)
      ? Effect.void
      : Effect.logError(`Connection closed by a defect: ${String(Cause.squash(reason))}`, reason)
  }

  // The log annotations are set on the fiber for the connection's lifetime and put back at its end (an
  // embedder may run it inline), rather than scoped around it with `Effect.annotateLogs` (see fiber-annotations).
  return Effect.flatMap(setFiberAnnotations({ connection: connectionId, remote: `${socket.remoteAddress}:${socket.remotePort}` }), (before) =>
    Scope.make().pipe(
      Effect.flatMap((scope) =>
        serve(scope).pipe(
          // On exit, not in an error handler: an interrupted fiber skips error handlers, and the end interrupts
          // it when it comes during a request. Logged before the scope closes (what it closes logs after).
          Effect.onExit((exit) =>
            logEnd(exit).pipe(Effect.zipRight(Scope.close(scope, exit)), Effect.zipRight(FiberRef.set(FiberRef.currentLogAnnotations, before)))
          )
        )
      ),
      Effect.catchAllCause(() => Effect.void) // logged on exit: the connection never fails its caller
    )
  )
}
