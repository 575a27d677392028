/**
 * The command line: `effect-rtmp [serve] [flags]`. `serve` is the default command.
 */
import { Command } from "@effect/cli"
import { Effect, Layer, Option } from "effect"
import { ServerConfig } from "../server/config.js"
import { RtmpServerLive } from "../server/listener.js"
import { normalizeArgv, type ServeOptions, serveOptions, toServerConfig } from "./options.js"

const runServer = (options: ServeOptions) =>
  Effect.gen(function* () {
    const config = toServerConfig(options)
    if (Option.isSome(config.logIoDir)) yield* Effect.logInfo(`Logging raw connection I/O to ${config.logIoDir.value}`)
    return yield* Layer.launch(RtmpServerLive.pipe(Layer.provide(ServerConfig.layer(config))))
  })

const serve = Command.make("serve", serveOptions, runServer).pipe(
  Command.withDescription("Run the RTMP server (the default command)")
)

export const command = Command.make("effect-rtmp", serveOptions, runServer).pipe(
  Command.withDescription("effect-rtmp: a live RTMP server and relay. Encoders publish to rtmp://HOST:PORT/APP/STREAM; players play the same URL."),
  Command.withSubcommands([serve])
)

export const cli = (argv: ReadonlyArray<string>) =>
  Command.run(command, { name: "effect-rtmp", version: "0.1.0" })(normalizeArgv(argv))
