import { Effect, Layer, Logger, LogLevel, Option } from "effect"
import { defaultRelayConfig, type RelayConfig, RelaysLive } from "../../src/relay/relays.js"
import { RelayHealth } from "../../src/relay/health.js"
import { retryPolicy } from "../../src/relay/supervisor.js"
import { type Authorizer, layer as authLayer, open } from "../../src/core/auth.js"
import { ServerConfig, type ServerConfigShape } from "../../src/core/config.js"
import { RtmpServer, RtmpServerLive } from "../../src/rtmp/listener.js"
import { StreamRegistry } from "../../src/core/registry.js"
import { HlsService } from "../../src/hls/service.js"
import { RecordService } from "../../src/record/service.js"
import { HttpServer, HttpServerLive } from "../../src/http/server.js"

const quietLevel = process.env.RTMP_TEST_LOG === "1" ? LogLevel.Debug : LogLevel.Error
const quiet = Logger.minimumLogLevel(quietLevel)

/** A server on a free loopback port, quiet unless something goes wrong (or a test reads its logs). */
export const testServer = (overrides: Partial<ServerConfigShape> = {}, authorizer: Authorizer = open, minimumLogLevel: LogLevel.LogLevel = quietLevel) =>
  RtmpServerLive.pipe(
    Layer.provideMerge(ServerConfig.layer({ host: "127.0.0.1", port: 0, ...overrides })),
    Layer.provide(authLayer(authorizer)),
    Layer.provide(Logger.minimumLogLevel(minimumLogLevel))
  )

/** Retries fast enough for tests: 200 ms doubling to 1 s. */
export const fastRelayConfig: RelayConfig = {
  ...defaultRelayConfig,
  policy: retryPolicy({ base: "200 millis", max: "1 second", maxAttempts: 0, jitter: true })
}

export const testServerWithRelays = (relays: Partial<RelayConfig>, overrides: Partial<ServerConfigShape> = {}) =>
  RelaysLive({ ...fastRelayConfig, ...relays }).pipe(Layer.provideMerge(testServer(overrides)), Layer.provide(quiet))

/** Builds a server (with relays) in the current scope and returns what a test needs of it. */
export const startServer = (relays: Partial<RelayConfig> = {}, overrides: Partial<ServerConfigShape> = {}) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(testServerWithRelays(relays, overrides))
    const { server, registry, health } = yield* Effect.all({ server: RtmpServer, registry: StreamRegistry, health: RelayHealth }).pipe(
      Effect.provide(context)
    )
    return { port: server.address.port, securePort: server.secureAddress.pipe(Option.map((a) => a.port), Option.getOrElse(() => 0)), registry, health }
  })

/** A server with the HTTP port on (port 0: a free one), and recording when `recordDir` is set, built in the current scope. */
export const startHttpServer = (overrides: Partial<ServerConfigShape> = {}, authorizer: Authorizer = open) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      HttpServerLive.pipe(
        Layer.provideMerge(Layer.merge(HlsService.Default, RecordService.Default).pipe(Layer.provideMerge(testServer({ httpPort: 0, ...overrides }, authorizer)))),
        Layer.provide(authLayer(authorizer)),
        Layer.provide(quiet)
      )
    )
    const { rtmp, http, registry } = yield* Effect.all({ rtmp: RtmpServer, http: HttpServer, registry: StreamRegistry }).pipe(Effect.provide(context))
    return {
      rtmpPort: rtmp.address.port,
      rtmpsPort: rtmp.secureAddress.pipe(Option.map((a) => a.port), Option.getOrElse(() => 0)),
      httpPort: http.address.port,
      httpsPort: http.secureAddress.pipe(Option.map((a) => a.port), Option.getOrElse(() => 0)),
      registry,
      base: `http://127.0.0.1:${http.address.port}`
    }
  })
