/**
 * The TCP listener: accepts connections (all of them, every time — the seed accepted one per wake-up),
 * runs each in its own supervised fiber, and on shutdown stops accepting first, then closes every
 * connection through its scope. Raw `node:net` is used for the sockets: it is faster than the platform
 * Socket and never hangs a write after a disconnect (see docs in effect-notes).
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as net from "node:net"
import * as tls from "node:tls"
import { Access } from "../core/access.js"
import { Authorization, open } from "../core/auth.js"
import { Connections } from "../core/connections.js"
import { ConnectionLimits } from "../core/limits.js"
import { ServerConfig } from "../core/config.js"
import { handleConnection } from "./connection.js"
import { StreamPlacement } from "../core/placement.js"
import { StreamRegistry } from "../core/registry.js"
import { adoptAccepted } from "../transport/socket-reads.js"
import { secureContextOptions, TlsCertificates, type TlsError } from "../transport/tls.js"

/** The listener could not start; `message` is one line for the user that names the flag to change. */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly host: string
  readonly port: number
  /** The system's error code (`EADDRINUSE`, `EACCES`, …), when there is one. */
  readonly code: string | undefined
  readonly message: string
}> {}

/** Says why a listen failed in the user's terms, naming the flag that fixes it. */
export const describeListenFailure = (error: NodeJS.ErrnoException, host: string, port: number, flags = { host: "--host", port: "--port" }): string => {
  switch (error.code) {
    case "EADDRINUSE":
      return `port ${port} is already in use (${flags.port}): another server is listening on ${host}:${port}`
    case "EACCES":
      return `port ${port} needs more privileges than this process has (${flags.port}): pick a port above 1023`
    case "EADDRNOTAVAIL":
      return `address ${host} does not belong to this machine (${flags.host})`
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `host ${host} could not be resolved (${flags.host})`
    default:
      return `cannot listen on ${host}:${port}: ${error.message}`
  }
}

export interface ListeningAddress {
  readonly host: string
  readonly port: number
}

/** Pending connections the kernel may queue before we accept them (capped by net.core.somaxconn). */
const LISTEN_BACKLOG = 4096

const listen = (server: net.Server, host: string, port: number, flags?: { host: string; port: string }) =>
  Effect.async<ListeningAddress, ListenError>((resume) => {
    const onError = (error: NodeJS.ErrnoException) =>
      resume(Effect.fail(new ListenError({ host, port, code: error.code, message: describeListenFailure(error, host, port, flags) })))
    server.once("error", onError)
    // A join storm (hundreds of players at once) overflows Node's default backlog of 511.
    server.listen({ host, port, backlog: LISTEN_BACKLOG }, () => {
      server.off("error", onError)
      const address = server.address()
      resume(Effect.succeed({ host, port: typeof address === "object" && address !== null ? address.port : port }))
    })
  })

const close = (server: net.Server) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
  })

export class RtmpServer extends Effect.Service<RtmpServer>()("effect-rtmp/RtmpServer", {
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    // Connections are interrupted (and their finalizers run) when this FiberSet's scope closes, which
    // happens after the listeners below have stopped accepting.
    const connections = yield* FiberSet.make()
    const runConnection = yield* FiberSet.runtime(connections)<ServerConfig | Access | Connections>()
    const limits = yield* ConnectionLimits
    const certificates = yield* TlsCertificates
    let nextId = 0
    let active = 0

    /** Counts a new TCP connection against the limits, or refuses it (logged); true when admitted. */
    const admit = (socket: net.Socket, id: string): boolean => {
      const ip = socket.remoteAddress ?? "unknown"
      const admission = limits.unsafeAdmit(ip)
      if (typeof admission === "string") {
        socket.destroy()
        runConnection(
          Effect.logWarning(`Connection refused: limit ${admission} reached`).pipe(
            Effect.annotateLogs({ connection: id, remote: `${ip}:${socket.remotePort}` })
          )
        )
        return false
      }
      active++
      socket.once("close", () => {
        active--
        admission.release()
      })
      socket.setNoDelay(true)
      return true
    }

    // Accepted paused, so that the connection's handle can move to a socket reading into the shared buffer.
    const plain = net.createServer({ noDelay: true, pauseOnConnect: true })
    plain.on("connection", (accepted) => {
      const id = `c${++nextId}`
      const reads = adoptAccepted(accepted)
      if (admit(reads.socket, id)) runConnection(handleConnection(reads, id))
    })
    const stopAccepting = (server: net.Server) => close(server).pipe(Effect.timeout(config.shutdownTimeout), Effect.ignore, Effect.forkDaemon, Effect.asVoid)
    const address = yield* Effect.acquireRelease(listen(plain, config.host, config.port), () =>
      Effect.logInfo("Shutting down: no longer accepting connections").pipe(Effect.zipRight(stopAccepting(plain)))
    )

    // RTMPS: the same connection handling on a TLS socket (the transport is a stream, RTMP is on top).
    let secureAddress: ListeningAddress | undefined
    const listeners: Array<net.Server> = [plain]
    const material = certificates.current()
    if (Option.isSome(material)) {
      const secure = tls.createServer({
        ...secureContextOptions(material.value),
        // The default of 120 s would let half-open TLS handshakes pile up.
        handshakeTimeout: Duration.toMillis(config.handshakeTimeout)
      })
      const unsubscribe = certificates.onChange((next) => secure.setSecureContext(secureContextOptions(next)))
      yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
      listeners.push(secure)
      // `connection` is the raw TCP socket (counted by the limits); `secureConnection` follows the TLS handshake.
      secure.on("connection", (socket: net.Socket) => void admit(socket, `s${nextId + 1}`))
      secure.on("secureConnection", (socket: tls.TLSSocket) => {
        socket.setNoDelay(true)
        runConnection(handleConnection(socket, `s${++nextId}`, "rtmps"))
      })
      secure.on("tlsClientError", (error: NodeJS.ErrnoException, socket: tls.TLSSocket) =>
        runConnection(
          Effect.logInfo(`TLS handshake failed: ${error.code ?? ""} ${error.message}`.trim()).pipe(
            Effect.annotateLogs({ remote: `${socket.remoteAddress}:${socket.remotePort}` })
          )
        )
      )
      secureAddress = yield* Effect.acquireRelease(
        listen(secure, config.host, config.rtmpsPort, { host: "--host", port: "--rtmps-port" }),
        () => stopAccepting(secure)
      )
      yield* Effect.logInfo(`Listening for RTMPS connections on ${secureAddress.host}:${secureAddress.port}`)
    }

    // Shutdown, first step (finalizers run in reverse): stop accepting, ask E-RTMP publishers that can
    // reconnect to do so, and keep serving them until they leave or the grace ends; then everyone goes.
    const registered = yield* Connections
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        for (const server of listeners) yield* stopAccepting(server)
        const moving = (yield* registered.list).filter(
          (c) => c.role() === "publisher" && c.requestReconnect?.(Option.getOrUndefined(config.reconnectUrl), "server shutting down") === true
        )
        if (moving.length === 0) return
        yield* Effect.logInfo(`Asked ${moving.length} E-RTMP publisher(s) to reconnect; serving them until they leave (up to ${Duration.format(config.reconnectGrace)})`)
        const ids = new Set(moving.map((c) => c.id))
        const left = Effect.map(registered.list, (open) => !open.some((c) => ids.has(c.id)))
        yield* left.pipe(
          Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("100 millis") }),
          Effect.timeout(config.reconnectGrace),
          Effect.ignore
        )
      })
    )

    const auth = yield* Authorization
    if (auth === open) yield* Effect.logWarning(`Authorization is ${auth.description}`)
    else yield* Effect.logInfo(`Authorization: ${auth.description}`)
    yield* Effect.logInfo(`Listening for connections on ${address.host}:${address.port}`)
    return {
      address,
      /** Where RTMPS listens, when a certificate is configured. */
      secureAddress: Option.fromNullable(secureAddress),
      /** Connections being served right now. */
      connectionCount: Effect.sync(() => active)
    } as const
  })
}) {}

/**
 * The stream core every input and output shares: the registry, access decisions and connection limits.
 * Needs a `ServerConfig` and an `Authorization` (e.g. `Auth.layer(Auth.open)`).
 */
export const StreamCoreLive: Layer.Layer<
  StreamRegistry | Access | ConnectionLimits | Connections | TlsCertificates | StreamPlacement,
  TlsError,
  ServerConfig | Authorization
> = Layer.mergeAll(Access.Default, ConnectionLimits.Default, Connections.Default, TlsCertificates.Default).pipe(
  Layer.provideMerge(Layer.merge(StreamRegistry.Default, StreamPlacement.Default))
)

/**
 * The whole RTMP server: listener plus the stream core, with the registry also exposed for relays and
 * embedders. Needs a `ServerConfig` and an `Authorization` (e.g. `Auth.layer(Auth.open)`).
 */
export const RtmpServerLive: Layer.Layer<
  RtmpServer | StreamRegistry | Access | ConnectionLimits | Connections | TlsCertificates | StreamPlacement,
  ListenError | TlsError,
  ServerConfig | Authorization
> =
  RtmpServer.Default.pipe(Layer.provideMerge(StreamCoreLive))
