/**
 * An outgoing RTMP connection in a scope: TCP connect (DNS names resolved by Node), TLS for `rtmps://`,
 * client handshake, `connect` — each step bounded by a timeout and failing with a typed `RelayError`.
 * Media and data go to synchronous callbacks (the hot path); other events queue up for the relay's
 * Effect code.
 *
 * TLS: SNI is always sent for host names (Node sends none unless told; YouTube needs it), the chain is
 * verified against the system CAs (or `ca`), and a pinned fingerprint is checked on `secureConnect`
 * with chain verification off — Node skips `checkServerIdentity` when the chain fails, so pinning a
 * self-signed origin cannot be done there.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import * as tls from "node:tls"
import type { AmfValue } from "../protocol/amf0.js"
import type { RtmpMessage } from "../protocol/chunk-reader.js"
import { isProtocolError } from "../protocol/errors.js"
import { ClientHandshake } from "../protocol/handshake.js"
import { backlogOf, batchedWrite, endSocket, inBatchWith } from "../transport/write-batch.js"
import { type ClientEvent, ClientSession, defaultClientOptions } from "../session/client-session.js"
import { RelayError } from "./supervisor.js"
import { normalizeFingerprint, redact, type RtmpUrl, tcUrl } from "./url.js"

/** How `rtmps://` peers are trusted. */
export interface RelayTls {
  /** PEM CA certificates trusted instead of the system's (`--relay-tls-ca`). */
  readonly ca: Buffer | undefined
  /** SHA-256 of the certificate every `rtmps://` peer must present (`--relay-tls-fingerprint`); the URL's `#fingerprint=` wins. */
  readonly fingerprint: string | undefined
  /** Accept any certificate (`--relay-tls-insecure`): encrypted, but not authenticated. */
  readonly insecure: boolean
}

export const defaultRelayTls: RelayTls = { ca: undefined, fingerprint: undefined, insecure: false }

export interface ClientOptions {
  /** Bound on TCP connect, handshake, and each awaited reply. */
  readonly timeout: Duration.Duration
  /** Outgoing chunk size, announced after connect. */
  readonly chunkSize: number
  readonly tls?: RelayTls
  /**
   * Bytes of ours the server may leave unread before the connection is ended: a server that sends pings and
   * reads none of the answers would otherwise pile them up in our memory (the slow-consumer policy bounds
   * only a push's media).
   */
  readonly maxUnreadBytes: number
  /** Extra connect properties: a pull announces what it forwards (E-RTMP `fourCcList`, `capsEx`). */
  readonly connectProperties?: ReadonlyArray<readonly [string, AmfValue]>
  readonly onMedia: (message: RtmpMessage) => void
  readonly onData: (streamId: number, values: ReadonlyArray<AmfValue>, timestamp: number) => void
}

export interface ClientConnection {
  readonly session: ClientSession
  readonly socket: net.Socket
  /** Our answers and requests: checked against `maxUnreadBytes`. */
  readonly write: (bytes: Buffer) => void
  /** A push's media, unchecked: its viewer's slow-consumer policy bounds it (and ends the push first). */
  readonly writeMedia: (bytes: Buffer) => void
  /** Bytes written and not yet taken by the socket (what the server has left unread, or a batch still holds). */
  readonly queuedBytes: () => number
  /** Waits for the first queued event `pick` accepts (others are skipped), bounded by the timeout. */
  readonly awaitEvent: <A>(what: string, pick: (event: ClientEvent) => A | undefined) => Effect.Effect<A, RelayError>
  /** The next queued control event (statuses, user control, commands). */
  readonly nextEvent: Effect.Effect<ClientEvent, RelayError>
  /** Fails when the connection ends, for whatever reason. */
  readonly closed: Effect.Effect<never, RelayError>
}

/** Control events kept for the relay; a server flooding them loses the oldest, never our memory. */
const EVENT_BUFFER = 1024

export const openClient = (url: RtmpUrl, options: ClientOptions): Effect.Effect<ClientConnection, RelayError, Scope.Scope> =>
  Effect.gen(function* () {
    const where = redact(url)
    const closed = yield* Deferred.make<never, RelayError>()
    const fail = (error: RelayError) => Deferred.unsafeDone(closed, Exit.fail(error))
    const events = yield* Queue.sliding<ClientEvent>(EVENT_BUFFER)
    let connected = false

    const trust = options.tls ?? defaultRelayTls
    const pinned = url.fingerprint ?? (trust.fingerprint === undefined ? undefined : normalizeFingerprint(trust.fingerprint))
    const socket: net.Socket = yield* Effect.acquireRelease(
      Effect.sync(() =>
        url.secure
          ? tls.connect({
              host: url.host,
              port: url.port,
              ...(net.isIP(url.host) === 0 ? { servername: url.host } : {}),
              ...(trust.ca === undefined ? {} : { ca: trust.ca }),
              // A pin replaces chain verification (checked below); insecure skips both, loudly.
              rejectUnauthorized: pinned === undefined && !trust.insecure,
              minVersion: "TLSv1.2"
            })
          : net.connect({ host: url.host, port: url.port, noDelay: true })
      ),
      (socket) =>
        Effect.sync(() => {
          endSocket(socket)
          setTimeout(() => socket.destroy(), 2000).unref()
        })
    )
    const queuedBytes = () => backlogOf(socket, socket.writableLength)
    const writeMedia = (bytes: Buffer) => batchedWrite(socket, bytes)
    const write = (bytes: Buffer) => {
      batchedWrite(socket, bytes)
      if (queuedBytes() > options.maxUnreadBytes) {
        fail(new RelayError({ reason: "SlowRemote", message: `${where}: more than ${options.maxUnreadBytes} bytes left unread (player-queue-hard-bytes + gop-cache-max-bytes)` }))
      }
    }
    const sessionOptions = { ...defaultClientOptions(url.app, tcUrl(url)), chunkSize: options.chunkSize, connectProperties: options.connectProperties ?? [] }
    const session = new ClientSession(sessionOptions, write, (event) => {
      if (event._tag === "Media") options.onMedia(event.message)
      else if (event._tag === "Data") options.onData(event.streamId, event.values, event.timestamp)
      else Queue.unsafeOffer(events, event)
    })

    const handshake = new ClientHandshake()
    const handshakeDone = yield* Deferred.make<void>()
    let onBytes = (bytes: Buffer): void => {
      const step = handshake.receive(bytes)
      if (step.send !== undefined) write(step.send)
      if (step._tag !== "Done") return
      onBytes = (b) => session.receive(b)
      Deferred.unsafeDone(handshakeDone, Exit.void)
      if (step.rest.length > 0) session.receive(step.rest)
    }
    socket.on("data", (bytes: Buffer) => {
      try {
        inBatchWith(onBytes, bytes) // a pull's media reaches local players as one writev per read
      } catch (cause) {
        socket.pause()
        const reason = isProtocolError(cause) && cause._tag === "HandshakeError" ? "Handshake" : "Protocol"
        fail(new RelayError({ reason, message: isProtocolError(cause) ? cause.message : String(cause) }))
      }
    })
    let tlsDone = false
    socket.on("error", (error: NodeJS.ErrnoException) =>
      fail(
        url.secure && !tlsDone && error.syscall === undefined // a certificate or TLS protocol error, not a socket one
          ? new RelayError({ reason: "Tls", message: `${where}: TLS failed: ${error.code}: ${error.message}` })
          : new RelayError({ reason: connected ? "Closed" : "Connect", message: `${where}: ${error.message}` })
      )
    )
    socket.on("close", () => fail(new RelayError({ reason: "Closed", message: `${where} closed the connection` })))

    const bounded = <A>(what: string, effect: Effect.Effect<A, RelayError>) =>
      effect.pipe(
        Effect.raceFirst(Deferred.await(closed)),
        Effect.timeoutFail({
          duration: options.timeout,
          onTimeout: () => new RelayError({ reason: "Timeout", message: `${where}: no ${what} within ${Duration.format(options.timeout)}` })
        })
      )

    yield* bounded(
      url.secure ? "TLS connection" : "TCP connection",
      Effect.async<void>((resume) => {
        socket.once(url.secure ? "secureConnect" : "connect", () => resume(Effect.void))
      })
    )
    if (socket instanceof tls.TLSSocket) {
      tlsDone = true
      socket.setNoDelay(true)
      const presented = socket.getPeerCertificate().fingerprint256
      if (pinned !== undefined && normalizeFingerprint(presented ?? "") !== pinned) {
        return yield* new RelayError({ reason: "Tls", message: `${where}: certificate fingerprint ${presented} is not the pinned one` })
      }
      if (trust.insecure && pinned === undefined) {
        yield* Effect.logWarning(`${where}: TLS certificate not verified (--relay-tls-insecure); presented SHA-256 ${presented}`)
      }
    }
    connected = true
    write(handshake.start())
    yield* bounded("handshake", Deferred.await(handshakeDone))

    const nextEvent = Queue.take(events).pipe(Effect.raceFirst(Deferred.await(closed)))
    const awaitEvent = <A>(what: string, pick: (event: ClientEvent) => A | undefined) =>
      bounded(
        what,
        Effect.iterate(undefined as A | undefined, {
          while: (found) => found === undefined,
          body: () => nextEvent.pipe(Effect.map(pick))
        }).pipe(Effect.map((found) => found as A))
      )

    session.connect()
    yield* awaitEvent("connect reply", (event) => {
      if (event._tag === "Connected") return true
      if (event._tag === "ConnectRejected") return new RelayError({ reason: "Rejected", message: `${where} refused connect: ${event.code} ${event.description}` })
      return undefined
    }).pipe(Effect.flatMap((result) => (result === true ? Effect.void : Effect.fail(result))))

    return { session, socket, write, writeMedia, queuedBytes, awaitEvent, nextEvent, closed: Deferred.await(closed) } satisfies ClientConnection
  })

/** createStream, then the new stream id. */
export const createStream = (connection: ClientConnection) =>
  Effect.suspend(() => {
    connection.session.createStream()
    return connection.awaitEvent("createStream reply", (event) => {
      if (event._tag === "StreamCreated") return Effect.succeed(event.streamId)
      if (event._tag === "CommandFailed" && event.command === "createStream") {
        return Effect.fail(new RelayError({ reason: "Rejected", message: `createStream failed: ${event.code} ${event.description}` }))
      }
      return undefined
    }).pipe(Effect.flatten)
  })
