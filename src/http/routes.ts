/**
 * The HTTP router (everything on the HTTP port but the FLV bodies): pages, the JSON API, `/metrics`,
 * `/healthz` and the player library. Read endpoints never show a publish key, token or query string;
 * write endpoints need `Authorization: Bearer <--api-token>` and are refused when no token is configured.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createHash, timingSafeEqual } from "node:crypto"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { ServerConfig } from "../core/config.js"
import { type ConnectionView, Connections } from "../core/connections.js"
import { Directory } from "../cluster/directory.js"
import { StreamRegistry } from "../core/registry.js"
import { RecordService } from "../record/service.js"
import { RelayHealth } from "../relay/health.js"
import { describeStream } from "./describe.js"
import { decodeSegments, streamOf } from "./paths.js"
import { renderMetrics } from "./metrics.js"
import { indexPage, watchPage } from "./pages.js"

/** The player libraries from their npm packages, read once at start-up. */
const resolve = createRequire(import.meta.url).resolve
const playerLibrary = () => readFileSync(resolve("mpegts.js"))
const hlsLibrary = () => readFileSync(resolve("hls.js/dist/hls.min.js"))

const sameToken = (given: string, expected: string) =>
  timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(expected).digest())

/** `app/…/name` from a wildcard path (empty segments, as in a trailing slash, are ignored). */
const streamPath = (path: string) => streamOf(decodeSegments(path.split("/").filter((s) => s !== "")))

export const routes = Effect.gen(function* () {
  const config = yield* ServerConfig
  const registry = yield* StreamRegistry
  const connections = yield* Connections
  const relays = yield* Effect.serviceOption(RelayHealth)
  const recordings = yield* Effect.serviceOption(RecordService)
  const directory = yield* Effect.serviceOption(Directory)
  const library = playerLibrary()
  const hlsJs = hlsLibrary()
  const cors = { "access-control-allow-origin": config.httpCors, "cache-control": "no-store" }
  const json = (body: unknown, status = 200) => HttpServerResponse.unsafeJson(body, { status, headers: cors })
  const notFound = (what: string) => json({ error: `${what} not found` }, 404)
  const now = Effect.clockWith((clock) => clock.currentTimeMillis)

  const findStream = (path: string) =>
    Effect.gen(function* () {
      const target = streamPath(path)
      return target === undefined ? undefined : yield* registry.lookup(target.app, target.name)
    })

  /** Write endpoints: a configured token, presented as a Bearer token. */
  const authorized = Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const header = request.headers["authorization"] ?? ""
    return Option.match(config.apiToken, {
      onNone: () => false,
      onSome: (token) => header.startsWith("Bearer ") && sameToken(header.slice(7), Redacted.value(token))
    })
  })

  /** A write endpoint on `/api/v1/connections/:id`: the Bearer token, then the connection, then `handle`. */
  const onConnection = <E, R>(handle: (connection: ConnectionView) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.gen(function* () {
      if (!(yield* authorized)) {
        return json({ error: Option.isNone(config.apiToken) ? "write endpoints are off: start the server with --api-token" : "a valid Bearer token is required" }, 401)
      }
      const { id } = yield* HttpRouter.params
      const connection = yield* connections.get(id ?? "")
      return connection === undefined ? notFound("connection") : yield* handle(connection)
    })

  return HttpRouter.empty.pipe(
    HttpRouter.get("/healthz", Effect.succeed(HttpServerResponse.text("ok\n"))),
    HttpRouter.get("/metrics", Effect.map(renderMetrics, (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))),
    HttpRouter.get("/assets/mpegts.js", Effect.succeed(HttpServerResponse.uint8Array(library, { contentType: "text/javascript; charset=utf-8", headers: { "cache-control": "public, max-age=3600" } }))),
    HttpRouter.get("/assets/hls.js", Effect.succeed(HttpServerResponse.uint8Array(hlsJs, { contentType: "text/javascript; charset=utf-8", headers: { "cache-control": "public, max-age=3600" } }))),
    HttpRouter.get("/api/v1/streams", Effect.gen(function* () {
      const at = yield* now
      return json({ streams: (yield* registry.streams).map((s) => describeStream(s, at)) })
    })),
    HttpRouter.get("/api/v1/streams/*", Effect.gen(function* () {
      const params = yield* HttpRouter.params
      const stream = yield* findStream(params["*"] ?? "")
      return stream === undefined ? notFound("stream") : json(describeStream(stream, yield* now))
    })),
    HttpRouter.get("/api/v1/connections", Effect.gen(function* () {
      const at = yield* now
      return json({
        connections: (yield* connections.list).map((c) => ({
          id: c.id,
          remote: c.remote,
          protocol: c.protocol,
          role: c.role(),
          stream: c.stream() ?? null,
          bytesIn: c.bytesIn(),
          bytesOut: c.bytesOut(),
          queuedBytes: c.queuedBytes(),
          droppedFrames: c.droppedFrames(),
          connectedSeconds: Math.round((at - c.connectedAt) / 1000)
        }))
      })
    })),
    HttpRouter.del("/api/v1/connections/:id", onConnection((connection) => Effect.gen(function* () {
      connection.kick("closed through the API")
      yield* Effect.logInfo(`Connection ${connection.id} closed through the API`)
      return json({ closed: connection.id })
    }))),
    HttpRouter.post("/api/v1/connections/:id/reconnect", onConnection((connection) => Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const body: unknown = yield* request.json.pipe(Effect.orElseSucceed(() => ({})))
      const field = (name: string) => (typeof body === "object" && body !== null ? (body as Record<string, unknown>)[name] : undefined)
      const tcUrl = field("tcUrl")
      const description = field("description")
      if (tcUrl !== undefined && (typeof tcUrl !== "string" || !/^(rtmps?:)?\/\/|^\//.test(tcUrl))) return json({ error: "tcUrl must be an rtmp[s]:// URL, //host/app or /app" }, 400)
      const sent = connection.requestReconnect?.(tcUrl as string | undefined, typeof description === "string" ? description : "asked through the API", field("force") === true) ?? false
      if (!sent) return json({ error: "the connection did not declare E-RTMP's Reconnect capability (send {\"force\": true} to ask anyway)" }, 409)
      yield* Effect.logInfo(`Connection ${connection.id} asked to reconnect${tcUrl === undefined ? "" : ` to ${String(tcUrl)}`}`)
      return json({ reconnectRequested: connection.id })
    }))),
    HttpRouter.get("/api/v1/cluster", Effect.gen(function* () {
      if (Option.isNone(directory)) return json({ enabled: false })
      const d = directory.value
      const [nodes, streams] = yield* Effect.all([d.nodes, d.listStreams]).pipe(
        Effect.catchAll(() => Effect.succeed([[], []] as const))
      )
      return json({
        enabled: true,
        node: { id: d.self.id, advertise: d.self.advertise, state: d.state() },
        nodes: nodes.map((n) => ({ id: n.id, advertise: n.advertise, startedAt: new Date(n.startedAt).toISOString() })),
        streams
      })
    })),
    HttpRouter.get("/api/v1/relays", Effect.gen(function* () {
      const reports = Option.isSome(relays) ? yield* relays.value.all : []
      return json({ relays: reports.map((r) => ({ id: r.id, remote: r.remote, status: r.status._tag, detail: r.status })) })
    })),
    HttpRouter.get("/api/v1/recordings", Effect.gen(function* () {
      const list = Option.isSome(recordings) ? yield* recordings.value.finished : []
      return json({ recordings: list.map((r) => ({ ...r, startedAt: new Date(r.startedAt).toISOString() })) })
    })),
    HttpRouter.all("/api/*", Effect.succeed(json({ error: "no such API endpoint" }, 404))),
    HttpRouter.get("/", Effect.succeed(HttpServerResponse.html(indexPage()))),
    HttpRouter.get("/*", Effect.gen(function* () {
      const params = yield* HttpRouter.params
      const target = streamPath(params["*"] ?? "")
      return target === undefined ? HttpServerResponse.text("not found\n", { status: 404 }) : HttpServerResponse.html(watchPage(target.app, target.name))
    }))
  )
})
