/**
 * The `serve` flags, shared by every command that runs a server (`serve` now, `pull`/`push` later).
 */
import { type Command, Options } from "@effect/cli"
import { Config, Duration } from "effect"
import { defaults, type ServerConfigShape } from "../core/config.js"

const integer = (name: string, fallback: number, description: string) =>
  Options.integer(name).pipe(Options.withDefault(fallback), Options.withDescription(description))

export const serveOptions = {
  host: Options.text("host").pipe(Options.withDefault(defaults.host), Options.withDescription("Interface to listen on")),
  port: Options.integer("port").pipe(
    Options.withAlias("p"),
    Options.withDefault(defaults.port),
    Options.withDescription("TCP port to listen on (0 picks a free one)")
  ),
  logIo: Options.directory("log-io").pipe(
    Options.withAlias("l"),
    Options.optional,
    Options.withDescription("Write the raw bytes of every connection to DIR (default ./logs), one file per direction")
  ),
  chunkSize: integer("chunk-size", defaults.chunkSize, "Outgoing RTMP chunk size in bytes (128..16777215)"),
  windowAckSize: integer("window-ack-size", defaults.windowAckSize, "Bytes after which peers are asked to acknowledge (Window Acknowledgement Size)"),
  peerBandwidth: integer("peer-bandwidth", defaults.peerBandwidth, "Bandwidth announced to peers with Set Peer Bandwidth, in bytes"),
  // An absent boolean option parses as false whatever its default, so the flag is the negative one.
  noGopCache: Options.boolean("no-gop-cache", { negationNames: ["gop-cache"] }).pipe(
    Options.withDescription("Turn off the GOP cache (on by default: players start at once on a keyframe); --gop-cache turns it on")
  ),
  gopCacheMaxFrames: integer("gop-cache-max-frames", defaults.gopCacheMaxFrames, "Most media messages kept in one GOP cache"),
  gopCacheMaxBytes: integer("gop-cache-max-bytes", defaults.gopCacheMaxBytes, "Most bytes kept in one GOP cache"),
  maxMessageSize: integer("max-message-size", defaults.maxMessageSize, "Largest incoming RTMP message accepted, in bytes"),
  maxChunkStreams: integer("max-chunk-streams", defaults.maxChunkStreams, "Most chunk streams one connection may use"),
  maxChunkSize: integer("max-chunk-size", defaults.maxChunkSize, "Largest chunk size a peer may set (memory never depends on it)"),
  maxBufferedBytes: integer(
    "max-buffered-bytes",
    defaults.maxBufferedBytes,
    "Most bytes held for unfinished incoming messages on one connection"
  ),
  maxStreamsPerConnection: integer(
    "max-streams-per-connection",
    defaults.maxStreamsPerConnection,
    "Most createStream calls one connection may make"
  ),
  handshakeTimeoutSeconds: integer(
    "handshake-timeout",
    Duration.toSeconds(defaults.handshakeTimeout),
    "Seconds a client has to complete the handshake"
  ),
  playerQueueSoftBytes: integer(
    "player-queue-soft-bytes",
    defaults.playerQueueSoftBytes,
    "Bytes queued to a player above which it skips to the next keyframe"
  ),
  playerQueueHardBytes: integer(
    "player-queue-hard-bytes",
    defaults.playerQueueHardBytes,
    "Bytes queued to a player above which it is disconnected"
  ),
  playerMaxLagSeconds: integer(
    "player-max-lag",
    Duration.toSeconds(defaults.playerMaxLag),
    "Seconds a player may keep skipping frames before it is disconnected"
  ),
  pingIntervalSeconds: integer("ping-interval", Duration.toSeconds(defaults.pingInterval), "Seconds of silence after which a peer is pinged"),
  pingTimeoutSeconds: integer("ping-timeout", Duration.toSeconds(defaults.pingTimeout), "Seconds a pinged peer may stay silent before it is dropped"),
  publisherIdleTimeoutSeconds: integer(
    "publisher-idle-timeout",
    Duration.toSeconds(defaults.publisherIdleTimeout),
    "Seconds a publisher may send no media before it is dropped (0: never)"
  ),
  maxConnections: integer("max-connections", defaults.maxConnections, "Most connections at once"),
  maxConnectionsPerIp: integer("max-connections-per-ip", defaults.maxConnectionsPerIp, "Most connections at once from one IP address"),
  publisherTakeoverGraceSeconds: Options.float("publisher-takeover-grace").pipe(
    Options.withDefault(Duration.toSeconds(defaults.publisherTakeoverGrace)),
    Options.withDescription("Seconds without media after which a new publisher on the same stream takes it over")
  ),
  httpPort: integer("http-port", defaults.httpPort, "HTTP port: HTTP-FLV, WS-FLV, the player page, the API and /metrics (0 picks a free one)"),
  // An absent boolean option parses as false whatever its default, so the flag is the negative one.
  noHttp: Options.boolean("no-http").pipe(Options.withDescription("Do not serve HTTP at all")),
  httpHost: Options.text("http-host").pipe(Options.optional, Options.withDescription("Interface for HTTP (default: --host)")),
  httpCors: Options.text("http-cors").pipe(Options.withDefault(defaults.httpCors), Options.withDescription("Access-Control-Allow-Origin for media and the read API")),
  httpWaitTimeout: integer("http-wait-timeout", Duration.toSeconds(defaults.httpWaitTimeout), "Seconds an HTTP/WS viewer waits for a stream that is not live yet"),
  httpHeaderTimeout: integer("http-header-timeout", Duration.toSeconds(defaults.httpHeaderTimeout), "Seconds a client has to send its request headers"),
  noHls: Options.boolean("no-hls").pipe(Options.withDescription("Do not package streams as LL-HLS")),
  hlsPartDuration: Options.float("hls-part-duration").pipe(
    Options.withDefault(Duration.toSeconds(defaults.hlsPartDuration)),
    Options.withDescription("LL-HLS part duration in seconds")
  ),
  hlsSegmentDuration: Options.float("hls-segment-duration").pipe(
    Options.withDefault(Duration.toSeconds(defaults.hlsSegmentDuration)),
    Options.withDescription("Shortest LL-HLS segment in seconds (segments end at the first keyframe after it)")
  ),
  hlsSegmentCount: integer("hls-segment-count", defaults.hlsSegmentCount, "LL-HLS segments kept per stream (at least 7); older URIs answer 404"),
  recordDir: Options.directory("record").pipe(Options.optional, Options.withDescription("Record live streams under DIR (DIR/APP/STREAM/<start time>.mp4)")),
  recordApp: Options.text("record-app").pipe(Options.optional, Options.withDescription("Record only this app's streams")),
  recordSegment: integer("record-segment", Duration.toSeconds(defaults.recordSegment), "Seconds after which a recording continues in a new file, at a keyframe (0: never)"),
  recordMaxBytes: integer("record-max-bytes", defaults.recordMaxBytes, "Bytes after which a recording continues in a new file, at a keyframe (0: never)"),
  recordFormat: Options.choice("record-format", ["mp4", "flv"]).pipe(
    Options.withDefault("mp4" as const),
    Options.withDescription("mp4: fragmented MP4, crash-safe (a kill -9 loses at most the last second); flv: plain FLV")
  ),
  onRecordDone: Options.text("on-record-done").pipe(Options.optional, Options.withDescription("POST a JSON description of every finished recording to URL")),
  logFormat: Options.choice("log-format", ["pretty", "json", "logfmt"]).pipe(
    Options.withDefault("pretty" as const),
    Options.withDescription("Log lines as pretty text, one JSON object, or logfmt (with --log-level for the level)")
  ),
  apiToken: Options.redacted("api-token").pipe(
    Options.withFallbackConfig(Config.redacted("RTMP_API_TOKEN")),
    Options.optional,
    Options.withDescription("Bearer token for the API's write endpoints (env RTMP_API_TOKEN); without one they are refused")
  )
} as const

export type ServeOptions = Command.Command.ParseConfig<typeof serveOptions>

export const toServerConfig = (options: ServeOptions): ServerConfigShape => ({
  ...defaults,
  host: options.host,
  port: options.port,
  logIoDir: options.logIo,
  chunkSize: options.chunkSize,
  windowAckSize: options.windowAckSize,
  peerBandwidth: options.peerBandwidth,
  gopCache: !options.noGopCache,
  gopCacheMaxFrames: options.gopCacheMaxFrames,
  gopCacheMaxBytes: options.gopCacheMaxBytes,
  maxMessageSize: options.maxMessageSize,
  maxChunkStreams: options.maxChunkStreams,
  maxChunkSize: options.maxChunkSize,
  maxBufferedBytes: options.maxBufferedBytes,
  maxStreamsPerConnection: options.maxStreamsPerConnection,
  handshakeTimeout: Duration.seconds(options.handshakeTimeoutSeconds),
  playerQueueSoftBytes: options.playerQueueSoftBytes,
  playerQueueHardBytes: options.playerQueueHardBytes,
  playerMaxLag: Duration.seconds(options.playerMaxLagSeconds),
  pingInterval: Duration.seconds(options.pingIntervalSeconds),
  pingTimeout: Duration.seconds(options.pingTimeoutSeconds),
  publisherIdleTimeout: Duration.seconds(options.publisherIdleTimeoutSeconds),
  maxConnections: options.maxConnections,
  maxConnectionsPerIp: options.maxConnectionsPerIp,
  publisherTakeoverGrace: Duration.seconds(options.publisherTakeoverGraceSeconds),
  http: !options.noHttp,
  httpPort: options.httpPort,
  httpHost: options.httpHost,
  httpCors: options.httpCors,
  httpWaitTimeout: Duration.seconds(options.httpWaitTimeout),
  httpHeaderTimeout: Duration.seconds(options.httpHeaderTimeout),
  apiToken: options.apiToken,
  hls: !options.noHls,
  hlsPartDuration: Duration.millis(Math.round(options.hlsPartDuration * 1000)),
  hlsSegmentDuration: Duration.millis(Math.round(options.hlsSegmentDuration * 1000)),
  hlsSegmentCount: options.hlsSegmentCount,
  recordDir: options.recordDir,
  recordApp: options.recordApp,
  recordSegment: Duration.seconds(options.recordSegment),
  recordMaxBytes: options.recordMaxBytes,
  recordFormat: options.recordFormat,
  onRecordDone: options.onRecordDone
})

/** Default directory for a bare `--log-io` / `-l`. */
export const DEFAULT_LOG_IO_DIR = "logs"

/**
 * `--log-io` takes an optional value; @effect/cli options take a value or none, so a bare `--log-io`
 * (as in the seed's `-l`) gets the default directory inserted before parsing.
 */
export const normalizeArgv = (input: ReadonlyArray<string>): Array<string> => {
  const argv = hoistLogLevel(input)
  const out: Array<string> = []
  let relayCommand = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const next = argv[i + 1]
    if (arg === "pull" || arg === "push") relayCommand = true
    // The seed's pull/push take the remote host as `-h`, which @effect/cli keeps for --help.
    if (relayCommand && arg === "-h" && next !== undefined && !next.startsWith("-")) {
      out.push("--remote-host")
      continue
    }
    out.push(arg)
    if ((arg === "--log-io" || arg === "-l") && (next === undefined || next.startsWith("-") || SUBCOMMANDS.has(next))) {
      out.push(DEFAULT_LOG_IO_DIR)
    }
  }
  return out
}

const SUBCOMMANDS = new Set(["serve", "pull", "push", "token"])

/** @effect/cli reads its built-in `--log-level` only before a subcommand; users put it anywhere. */
const hoistLogLevel = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const rest = [...argv.slice(2)]
  const hoisted: Array<string> = []
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string
    if (arg.startsWith("--log-level=")) hoisted.push(...rest.splice(i--, 1))
    else if (arg === "--log-level" && i + 1 < rest.length) hoisted.push(...rest.splice(i--, 2))
  }
  return [...argv.slice(0, 2), ...hoisted, ...rest]
}
