/**
 * The command line: `effect-rtmp [serve] [flags]` (`serve` is the default), and the seed-compatible
 * `pull -a APP -h HOST[:PORT] -s STREAM -t TARGET` and `push -a APP -h HOST[:PORT] -s SOURCE -t TARGET`,
 * which serve with every `serve` flag and add one relay.
 */
import { Command, Options, ValidationError } from "@effect/cli"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Auth from "../core/auth.js"
import { type AuthFlags, authOptions, toAuthorizer } from "./auth-options.js"
import { describeRelays, type RelayConfig, RelaysLive } from "../relay/relays.js"
import { fromParts } from "../relay/url.js"
import { ConfigError, ServerConfig } from "../core/config.js"
import { HlsService } from "../hls/service.js"
import { RecordService } from "../record/service.js"
import { HttpServerLive } from "../http/server.js"
import { RtmpServerLive } from "../rtmp/listener.js"
import { Directory } from "../cluster/directory.js"
import { EdgeLive } from "../cluster/edge.js"
import { prepareDirectories } from "./directories.js"
import { prettyLayer } from "./logger.js"
import { logOptions, normalizeArgv, type ServeOptions, serveOptions, toServerConfig } from "./options.js"
import { type RelayFlags, relayOptions, seedRelayOptions, toRelayConfig } from "./relay-options.js"

const serveAndRelayOptions = { ...serveOptions, ...logOptions, ...relayOptions, ...authOptions } as const

type LogFlags = Command.Command.ParseConfig<typeof logOptions>

const runServer = (options: ServeOptions & LogFlags & RelayFlags & AuthFlags, relays: RelayConfig) =>
  Effect.gen(function* () {
    const config = toServerConfig(options)
    const authorizer = yield* toAuthorizer(options)
    yield* prepareDirectories(config)
    if (Option.isSome(config.logIoDir)) yield* Effect.logInfo(`Logging raw connection I/O to ${config.logIoDir.value}`)
    for (const line of describeRelays(relays)) yield* Effect.logInfo(`Relay: ${line}`)
    // In a cluster the directory comes first (relays take leases from it), the edge after the relays.
    const rtmp = Option.isSome(config.clusterRedis)
      ? EdgeLive.pipe(Layer.provideMerge(RelaysLive(relays)), Layer.provideMerge(Directory.Default), Layer.provideMerge(RtmpServerLive))
      : RelaysLive(relays).pipe(Layer.provideMerge(RtmpServerLive))
    const server = Option.isSome(config.recordDir) ? RecordService.Default.pipe(Layer.provideMerge(rtmp)) : rtmp
    const withHls = config.hls ? HlsService.Default.pipe(Layer.provideMerge(server)) : server
    const withHttp = config.http ? HttpServerLive.pipe(Layer.provideMerge(withHls)) : server
    const logger = options.logFormat === "json" ? Logger.json : options.logFormat === "logfmt" ? Logger.logFmt : prettyLayer
    return yield* Layer.launch(withHttp.pipe(Layer.provide(ServerConfig.layer(config)), Layer.provide(Auth.layer(authorizer)))).pipe(
      Effect.provide(logger)
    )
  })

const serveHandler = (options: ServeOptions & LogFlags & RelayFlags & AuthFlags) => runServer(options, toRelayConfig(options))

const serve = Command.make("serve", serveAndRelayOptions, serveHandler).pipe(
  Command.withDescription("Run the RTMP server, with any --pull and --push relays (the default command)")
)

const pull = Command.make("pull", { ...serveAndRelayOptions, ...seedRelayOptions }, (options) =>
  Effect.suspend(() => {
    const remote = fromParts(options.remoteHost, options.app, options.stream)
    return runServer(options, toRelayConfig(options, { pulls: [{ remote, app: options.app, name: options.target }] }))
  })
).pipe(Command.withDescription("Serve, and pull remote APP/STREAM from -h HOST[:PORT] into local APP/TARGET"))

const push = Command.make("push", { ...serveAndRelayOptions, ...seedRelayOptions }, (options) =>
  Effect.suspend(() => {
    const remote = fromParts(options.remoteHost, options.app, options.target)
    return runServer(options, toRelayConfig(options, { pushes: [{ app: options.app, name: options.stream, remote }] }))
  })
).pipe(Command.withDescription("Serve, and push local APP/STREAM to APP/TARGET on -h HOST[:PORT] whenever it is live"))

const token = Command.make(
  "token",
  {
    app: Options.text("app").pipe(Options.withAlias("a"), Options.withDescription("App of the stream")),
    stream: Options.text("stream").pipe(Options.withAlias("s"), Options.withDescription("Stream name")),
    validFor: Options.integer("valid-for").pipe(Options.withDefault(3600), Options.withDescription("Seconds the token stays valid")),
    secret: authOptions.tokenSecret
  },
  ({ app, stream, validFor, secret }) =>
    Option.match(secret, {
      onNone: () => new ConfigError({ setting: "tokenSecret", message: "--token-secret (or RTMP_TOKEN_SECRET) is required" }),
      onSome: (value) => {
        const expires = Math.floor(Date.now() / 1000) + validFor
        return Console.log(`${stream}?token=${Auth.signToken(value, app, stream, expires)}&expires=${expires}`)
      }
    })
).pipe(Command.withDescription("Print a signed stream name (NAME?token=…&expires=…) for --token-secret servers"))

export const command = Command.make("effect-rtmp", serveAndRelayOptions, serveHandler).pipe(
  Command.withDescription(
    "effect-rtmp: a live RTMP server and relay. Encoders publish to rtmp://HOST:PORT/APP/STREAM; players play the same URL."
  ),
  Command.withSubcommands([serve, pull, push, token])
)

/**
 * Prints why start-up failed as one line on stderr (the process then exits non-zero). Flag parsing errors
 * are printed by @effect/cli itself; an interruption (Ctrl-C) is not a failure.
 */
const reportFailure = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  program.pipe(
    Effect.tapErrorCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.void
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure)) {
        const error: unknown = failure.value
        if (ValidationError.isValidationError(error)) return Effect.void
        return Console.error(`effect-rtmp: ${error instanceof Error ? error.message : String(error)}`)
      }
      const defect = Cause.squash(cause)
      return Console.error(`effect-rtmp: internal error: ${defect instanceof Error ? (defect.stack ?? defect.message) : String(defect)}`)
    })
  )

export const cli = (argv: ReadonlyArray<string>) =>
  Command.run(command, { name: "effect-rtmp", version: "0.1.0" })(normalizeArgv(argv)).pipe(reportFailure)
