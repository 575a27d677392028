/**
 * The one HTTP port: HTTP-FLV and WS-FLV bodies go straight to the socket (see `flv/viewers.ts`);
 * everything else — the player pages, the JSON API, metrics, health — is an `@effect/platform` router
 * behind the same Node server. LL-HLS requests are answered before Node's HTTP machinery, by the front
 * (`front.ts`), which hands it every other connection. Connections count against the shared connection
 * limits, slow request headers time out (`--http-header-timeout`), oversized ones get 431, unknown paths 404.
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as http from "node:http"
import * as net from "node:net"
import * as tls from "node:tls"
import type * as stream from "node:stream"
import type { WebSocketServer } from "ws"
import { Access } from "../core/access.js"
import { ServerConfig } from "../core/config.js"
import { Connections } from "../core/connections.js"
import { StreamPlacement } from "../core/placement.js"
import { annotateOwnFiber } from "../core/fiber-annotations.js"
import { ConnectionLimits } from "../core/limits.js"
import { Authorization, open } from "../core/auth.js"
import { parseFlvPath, serveHttpFlv, serveWsFlv } from "../flv/viewers.js"
import { parseHlsPath, serveHls } from "../hls/http.js"
import type { HlsPackager } from "../hls/packager.js"
import { HlsService } from "../hls/service.js"
import { type FrontReply, type FrontRequest, makeFront, replyThrough } from "./front.js"
import { describeListenFailure } from "../rtmp/listener.js"
import { secureContextOptions, TlsCertificates } from "../transport/tls.js"
import { routes } from "./routes.js"

/** What the platform part (router, pages, API) needs from the server's context. */
type RoutesContext = Effect.Effect.Context<typeof routes>

export class HttpListenError extends Data.TaggedError("HttpListenError")<{ readonly message: string }> {}

/** A connection Node's HTTP server answers, with the count of its requests not answered yet. */
const unanswered = Symbol("effect-rtmp/unansweredRequests")
type Pipelining = net.Socket & { [unanswered]?: number }

/** Largest request head accepted (Node answers 431 above it). */
const MAX_HEADER_BYTES = 16 * 1024

export class HttpServer extends Effect.Service<HttpServer>()("effect-rtmp/HttpServer", {
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const limits = yield* ConnectionLimits
    // @effect/platform's Node HTTP server (with the mime table and node:https) is loaded with the first request
    // that needs the router (pages, API, metrics); media requests never do. The router itself is imported as
    // usual: imported on demand, it made the bundle wrap every module it imports, the fan-out's included, in
    // a lazy initialiser (esbuild's CommonJS output), which cost 3–12 % CPU per byte at 1,000 players.
    // The runtime, not just the context: the logger and log level come along.
    const runtime = yield* Effect.runtime<RoutesContext | ConnectionLimits>()
    let platform: Promise<(incoming: http.IncomingMessage, response: http.ServerResponse) => void> | undefined
    const loadPlatform = () =>
      Runtime.runPromise(runtime)(
        Effect.gen(function* () {
          const NodeHttpServer = yield* Effect.promise(() => import("@effect/platform-node/NodeHttpServer"))
          // A defect in a handler answers 500 (the platform's doing) and is logged here at Error, not at Debug.
          const app = (yield* routes).pipe(Effect.tapDefect((defect) => Effect.logError("HTTP request failed with a defect", Cause.die(defect))))
          return yield* NodeHttpServer.makeHandler(app)
        })
      )
    const handler = (incoming: http.IncomingMessage, response: http.ServerResponse): void => {
      platform ??= loadPlatform()
      platform.then(
        (handle) => handle(incoming, response),
        (error: unknown) => {
          response.writeHead(500, { "content-type": "text/plain" }).end("internal error\n")
          Runtime.runFork(runtime)(Effect.logError(`HTTP router failed to load: ${String(error)}`))
        }
      )
    }
    const hls = yield* Effect.serviceOption(HlsService)
    const placement = yield* StreamPlacement
    const auth = yield* Authorization
    const media = yield* FiberSet.make()
    const runMedia = yield* FiberSet.runtime(media)<ServerConfig | Access | Connections>()
    // `ws` (and the zlib and https it requires) is loaded with the first WebSocket viewer, not at start.
    let wss: WebSocketServer | undefined
    const webSockets = Effect.promise(() => import("ws")).pipe(
      Effect.map(({ WebSocketServer }) => (wss ??= new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 })))
    )
    const headerTimeout = Duration.toMillis(config.httpHeaderTimeout)
    const serverOptions: http.ServerOptions = {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: headerTimeout,
      requestTimeout: headerTimeout * 3,
      keepAliveTimeout: 5000,
      // Node enforces the header timeout only when it sweeps its connections (every 30 s by default).
      connectionsCheckingInterval: Math.min(1000, headerTimeout)
    }
    let nextId = 0

    /** Counts a new TCP connection against the limits; false when it was refused (and destroyed). */
    const admit = (socket: net.Socket): boolean => {
      const admission = limits.unsafeAdmit(socket.remoteAddress ?? "unknown")
      if (typeof admission === "string") {
        socket.destroy()
        runMedia(Effect.logWarning(`HTTP connection refused: limit ${admission} reached`).pipe(Effect.annotateLogs({ remote: socket.remoteAddress ?? "" })))
        return false
      }
      socket.setNoDelay(true)
      socket.once("close", admission.release)
      return true
    }

    /** The FLV viewer a request asks for, if any; `kind` prefixes its connection id (`h7` HTTP, `w8` WebSocket). */
    const flvRequest = (incoming: http.IncomingMessage, url: URL, kind: "h" | "w") => {
      const target = parseFlvPath(url.pathname)
      if (target === undefined) return undefined
      return { ...target, query: url.search.slice(1), remoteAddress: incoming.socket.remoteAddress ?? "", connectionId: `${kind}${++nextId}` }
    }

    /** LL-HLS: playlists are authorized like any play (token query, callback with protocol=hls); media URIs carry the per-publish id. */
    const serveHlsRequest = (request: FrontRequest, reply: FrontReply): boolean => {
      if (Option.isNone(hls)) return false
      const target = parseHlsPath(request.path)
      if (target === undefined) return false
      const service = hls.value
      const serveWith = (packager: HlsPackager | undefined) => {
        if (packager === undefined || !packager.ready) {
          // In a cluster the stream may live on another node: fetch it, the player's next reload finds it.
          placement.current()?.remoteHls(target.app, target.name)
          return reply.send(404, "text/plain; charset=utf-8", `${target.app}/${target.name} is not live\n`, "no-store")
        }
        // An edge's HLS viewers keep its pull of the stream in use (they hold no connection).
        if (target.kind === "media") placement.current()?.touch(target.app, target.name)
        serveHls(target, packager, request.search, reply)
      }
      // Media URIs carry the per-publish id: they never start packaging and need no asking, so the hot path
      // stays synchronous. Playlists are authorized like any play, then start packaging if it is not running.
      if (target.kind !== "multivariant" && target.kind !== "media") {
        serveWith(Option.getOrUndefined(service.packager(target.app, target.name)))
        return true
      }
      if (auth === open) {
        service.request(target.app, target.name, serveWith)
        return true
      }
      const play = { app: target.app, name: target.name, query: request.search.slice(1), remoteAddress: request.remoteAddress, connectionId: `l${++nextId}`, protocol: "hls" }
      runMedia(
        auth.play(play).pipe(
          Effect.matchEffect({
            onFailure: (denied) =>
              Effect.logWarning(`Play denied on app '${target.app}': ${denied.reason}`).pipe(
                Effect.zipRight(Effect.sync(() => reply.send(403, "text/plain; charset=utf-8", "play denied\n", "no-store")))
              ),
            onSuccess: () => Effect.sync(() => service.request(target.app, target.name, serveWith))
          })
        )
      )
      return true
    }

    const onRequest = (incoming: http.IncomingMessage, response: http.ServerResponse) => {
      if (!withinPipelineLimit(incoming.socket as Pipelining, response)) return
      if (incoming.method !== "GET") return handler(incoming, response)
      const url = new URL(incoming.url ?? "/", "http://localhost")
      const request = flvRequest(incoming, url, "h")
      if (request === undefined) {
        const front = { path: url.pathname, search: url.search, remoteAddress: incoming.socket.remoteAddress ?? "" }
        if (!serveHlsRequest(front, replyThrough(response, config.httpCors))) handler(incoming, response)
        return
      }
      runMedia(
        serveHttpFlv(request, incoming).pipe(
          annotateOwnFiber({ connection: request.connectionId, remote: request.remoteAddress }),
          Effect.catchAllCause((cause) => Effect.logError("HTTP-FLV viewer failed", cause))
        )
      )
    }

    /**
     * Node answers a connection's requests in order and reads on meanwhile: a client that pipelines requests and
     * reads none of the answers piles them up, each with its handler's state (one such connection took the heap
     * from 15 to 55 MB before Node stopped reading it). Past `--http-max-pipelined` unanswered requests the
     * connection is closed.
     */
    const withinPipelineLimit = (socket: Pipelining, response: http.ServerResponse): boolean => {
      if (socket.destroyed) return false
      const waiting = (socket[unanswered] ?? 0) + 1
      if (waiting > config.httpMaxPipelined) {
        socket.destroy()
        runMedia(
          Effect.logWarning(`HTTP connection closed: more than ${config.httpMaxPipelined} requests waiting for their answers (http-max-pipelined)`).pipe(
            Effect.annotateLogs({ remote: socket.remoteAddress ?? "" })
          )
        )
        return false
      }
      socket[unanswered] = waiting
      response.once("close", () => void (socket[unanswered] = (socket[unanswered] ?? 1) - 1))
      return true
    }

    const onUpgrade = (incoming: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const request = flvRequest(incoming, new URL(incoming.url ?? "/", "http://localhost"), "w")
      if (request === undefined) {
        socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
      }
      runMedia(
        Effect.flatMap(webSockets, (server) => serveWsFlv(request, incoming, socket, head, server)).pipe(
          annotateOwnFiber({ connection: request.connectionId, remote: request.remoteAddress }),
          Effect.catchAllCause((cause) => Effect.logError("WS-FLV viewer failed", cause))
        )
      )
    }
    const onClientError = (error: NodeJS.ErrnoException, socket: stream.Duplex) => {
      // Bad or slow request heads: Node's own answer (400, 408, 431), then the socket goes.
      const status = error.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request"
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
      else socket.destroy()
    }

    const host = Option.getOrElse(config.httpHost, () => config.host)
    /**
     * Serves the HTTP face on `listener` at `port` until the scope closes: each connection is admitted,
     * read by the front (LL-HLS answered there) and otherwise handed to a Node HTTP server of its own.
     */
    const serveOn = (listener: net.Server, port: number, portFlag: string) => {
      const node = http.createServer(serverOptions)
      node.on("request", onRequest)
      node.on("upgrade", onUpgrade)
      node.on("clientError", onClientError)
      const front = makeFront({
        fast: serveHlsRequest,
        node,
        cors: config.httpCors,
        maxHeadBytes: MAX_HEADER_BYTES,
        headerTimeoutMs: headerTimeout,
        keepAliveTimeoutMs: serverOptions.keepAliveTimeout ?? 5000,
        maxQueuedBytes: config.playerQueueSoftBytes
      })
      if (listener instanceof tls.Server) {
        listener.on("connection", admit)
        listener.on("secureConnection", front.accept)
      } else listener.on("connection", (socket: net.Socket) => void (admit(socket) && front.accept(socket)))
      return Effect.acquireRelease(
        Effect.async<{ host: string; port: number }, HttpListenError>((resume) => {
          const onError = (error: NodeJS.ErrnoException) =>
            resume(Effect.fail(new HttpListenError({ message: describeListenFailure(error, host, port, { host: "--http-host", port: portFlag }) })))
          listener.once("error", onError)
          listener.listen({ host, port, backlog: 4096 }, () => {
            listener.off("error", onError)
            // Node starts its header-timeout sweep and connection tracking on "listening"; its connections come from here.
            node.emit("listening")
            const bound = listener.address()
            resume(Effect.succeed({ host, port: typeof bound === "object" && bound !== null ? bound.port : port }))
          })
        }),
        () =>
          Effect.async<void>((resume) => {
            listener.close(() => resume(Effect.void))
            front.close()
            node.close()
            node.closeAllConnections()
            wss?.clients.forEach((ws) => ws.terminate())
          }).pipe(Effect.timeout(config.shutdownTimeout), Effect.ignore)
      )
    }

    const address = yield* serveOn(net.createServer({ noDelay: true }), config.httpPort, "--http-port")
    yield* Effect.logInfo(`HTTP on http://${address.host}:${address.port}/ (HTTP-FLV, WS-FLV, LL-HLS, player, API, metrics)`)

    // HTTPS: the same face with the server's certificate, so pages, HLS and WS-FLV work from https sites.
    const certificates = yield* TlsCertificates
    const material = certificates.current()
    let secureAddress: { host: string; port: number } | undefined
    if (Option.isSome(material)) {
      const secure = tls.createServer({ ...secureContextOptions(material.value), handshakeTimeout: headerTimeout, ALPNProtocols: ["http/1.1"] })
      const unsubscribe = certificates.onChange((next) => secure.setSecureContext(secureContextOptions(next)))
      yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
      secureAddress = yield* serveOn(secure, config.httpsPort, "--https-port")
      yield* Effect.logInfo(`HTTPS on https://${secureAddress.host}:${secureAddress.port}/`)
    }
    return { address, secureAddress: Option.fromNullable(secureAddress) } as const
  })
}) {}

/** HTTP for the stream core: needs the registry, access and limits (`StreamCoreLive`) and the config. */
export const HttpServerLive = HttpServer.Default
