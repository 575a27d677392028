import { Layer, Logger, LogLevel } from "effect"
import { ServerConfig, type ServerConfigShape } from "../../src/server/config.js"
import { RtmpServerLive } from "../../src/server/listener.js"

/** A server on a free loopback port, quiet unless something goes wrong. */
export const testServer = (overrides: Partial<ServerConfigShape> = {}) =>
  RtmpServerLive.pipe(
    Layer.provide(ServerConfig.layer({ host: "127.0.0.1", port: 0, ...overrides })),
    Layer.provide(Logger.minimumLogLevel(process.env.RTMP_TEST_LOG === "1" ? LogLevel.Debug : LogLevel.Error))
  )
