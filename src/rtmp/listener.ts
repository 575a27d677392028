/**
 * The TCP listener: accepts connections (all of them, every time — the seed accepted one per wake-up),
 * runs each in its own supervised fiber, and on shutdown stops accepting first, then closes every
 * connection through its scope. Raw `node:net` is used for the sockets: it is faster than the platform
 * Socket and never hangs a write after a disconnect (see docs in effect-notes).
 */
import { Data, Effect, FiberSet, Layer } from "effect"
import * as net from "node:net"
import { Access } from "../core/access.js"
import { Authorization, open } from "../core/auth.js"
import { Connections } from "../core/connections.js"
import { ConnectionLimits } from "../core/limits.js"
import { ServerConfig } from "../core/config.js"
import { handleConnection } from "./connection.js"
import { StreamRegistry } from "../core/registry.js"

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

const listen = (server: net.Server, host: string, port: number) =>
  Effect.async<ListeningAddress, ListenError>((resume) => {
    const onError = (error: NodeJS.ErrnoException) =>
      resume(Effect.fail(new ListenError({ host, port, code: error.code, message: describeListenFailure(error, host, port) })))
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
    // happens after the listener below has stopped accepting.
    const connections = yield* FiberSet.make()
    const runConnection = yield* FiberSet.runtime(connections)<ServerConfig | Access | Connections>()
    const limits = yield* ConnectionLimits
    const server = net.createServer({ noDelay: true, pauseOnConnect: false })
    let nextId = 0
    let active = 0
    server.on("connection", (socket) => {
      const id = `c${++nextId}`
      const ip = socket.remoteAddress ?? "unknown"
      const admission = limits.unsafeAdmit(ip)
      if (typeof admission === "string") {
        socket.destroy()
        runConnection(
          Effect.logWarning(`Connection refused: limit ${admission} reached`).pipe(
            Effect.annotateLogs({ connection: id, remote: `${ip}:${socket.remotePort}` })
          )
        )
        return
      }
      active++
      socket.once("close", () => {
        active--
        admission.release()
      })
      socket.setNoDelay(true)
      runConnection(handleConnection(socket, id))
    })
    const address = yield* Effect.acquireRelease(listen(server, config.host, config.port), () =>
      Effect.gen(function* () {
        yield* Effect.logInfo("Shutting down: no longer accepting connections")
        yield* close(server).pipe(Effect.timeout(config.shutdownTimeout), Effect.ignore)
      }).pipe(Effect.forkDaemon, Effect.asVoid)
    )
    const auth = yield* Authorization
    if (auth === open) yield* Effect.logWarning(`Authorization is ${auth.description}`)
    else yield* Effect.logInfo(`Authorization: ${auth.description}`)
    yield* Effect.logInfo(`Listening for connections on ${address.host}:${address.port}`)
    return {
      address,
      /** Connections being served right now. */
      connectionCount: Effect.sync(() => active)
    } as const
  })
}) {}

/**
 * The stream core every input and output shares: the registry, access decisions and connection limits.
 * Needs a `ServerConfig` and an `Authorization` (e.g. `Auth.layer(Auth.open)`).
 */
export const StreamCoreLive: Layer.Layer<StreamRegistry | Access | ConnectionLimits | Connections, never, ServerConfig | Authorization> =
  Layer.mergeAll(Access.Default, ConnectionLimits.Default, Connections.Default).pipe(Layer.provideMerge(StreamRegistry.Default))

/**
 * The whole RTMP server: listener plus the stream core, with the registry also exposed for relays and
 * embedders. Needs a `ServerConfig` and an `Authorization` (e.g. `Auth.layer(Auth.open)`).
 */
export const RtmpServerLive: Layer.Layer<
  RtmpServer | StreamRegistry | Access | ConnectionLimits | Connections,
  ListenError,
  ServerConfig | Authorization
> =
  RtmpServer.Default.pipe(Layer.provideMerge(StreamCoreLive))
