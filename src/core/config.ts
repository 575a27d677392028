/**
 * Every tunable of the server, with safe defaults. Built from CLI flags, from the environment
 * (`RTMP_PORT`, `RTMP_GOP_CACHE`, …) through `Config`, or from a partial object by embedders.
 */
import { Config, ConfigProvider, Context, Data, Duration, Effect, Layer, Option, type Redacted } from "effect"

export interface ServerConfigShape {
  /** Interface to listen on. */
  readonly host: string
  /** TCP port to listen on (0 picks a free port). */
  readonly port: number
  /** Outgoing chunk size announced to every peer; larger means fewer chunk headers. */
  readonly chunkSize: number
  /** Window acknowledgement size we ask peers to acknowledge by. */
  readonly windowAckSize: number
  /** Bandwidth we announce with Set Peer Bandwidth (dynamic). */
  readonly peerBandwidth: number
  /** Directory for raw per-connection I/O logs, when enabled. */
  readonly logIoDir: Option.Option<string>
  /** Keep the last GOP so late joiners start at once from a keyframe. */
  readonly gopCache: boolean
  /** Most media messages one GOP cache holds; a longer GOP is not cached. */
  readonly gopCacheMaxFrames: number
  /** Most bytes one GOP cache holds; a larger GOP is not cached. */
  readonly gopCacheMaxBytes: number
  /** Largest incoming message accepted. */
  readonly maxMessageSize: number
  /** Most chunk streams a peer may open on one connection. */
  readonly maxChunkStreams: number
  /** Largest chunk size a peer may announce. Memory does not depend on it (chunks are streamed). */
  readonly maxChunkSize: number
  /** Most bytes held for unfinished incoming messages on one connection. */
  readonly maxBufferedBytes: number
  /** Most message streams (createStream) one connection may open. */
  readonly maxStreamsPerConnection: number
  /** Time a peer has to complete the handshake. */
  readonly handshakeTimeout: Duration.Duration
  /** Bytes queued to a player above which it skips to the next keyframe. */
  readonly playerQueueSoftBytes: number
  /** Bytes queued to a player above which it is disconnected. */
  readonly playerQueueHardBytes: number
  /** A player that has been skipping frames this long is disconnected. */
  readonly playerMaxLag: Duration.Duration
  /** Time connections get to close when the server shuts down. */
  readonly shutdownTimeout: Duration.Duration
  /** A peer silent this long is sent a ping. */
  readonly pingInterval: Duration.Duration
  /** A pinged peer that stays silent this long is dropped as dead. */
  readonly pingTimeout: Duration.Duration
  /** A publisher that sends no media this long is dropped (0 turns it off). */
  readonly publisherIdleTimeout: Duration.Duration
  /** Most connections at once. */
  readonly maxConnections: number
  /** Most connections at once from one IP address. */
  readonly maxConnectionsPerIp: number
  /** A new publisher takes a live stream over when the current one has sent no media this long. */
  readonly publisherTakeoverGrace: Duration.Duration
  /** Serve HTTP (HTTP-FLV, WS-FLV, the player page, the API, metrics). */
  readonly http: boolean
  /** HTTP port (0 picks a free port). */
  readonly httpPort: number
  /** Interface for HTTP; `host` when absent. */
  readonly httpHost: Option.Option<string>
  /** `Access-Control-Allow-Origin` for media and read endpoints. */
  readonly httpCors: string
  /** How long an HTTP/WS viewer waits for a stream that is not live yet. */
  readonly httpWaitTimeout: Duration.Duration
  /** Time a client has to send its request headers (slowloris). */
  readonly httpHeaderTimeout: Duration.Duration
  /** Bearer token for the API's write endpoints; without one they are refused. */
  readonly apiToken: Option.Option<Redacted.Redacted<string>>
  /** Package every live stream as LL-HLS on the HTTP port. */
  readonly hls: boolean
  /** LL-HLS part duration. */
  readonly hlsPartDuration: Duration.Duration
  /** Shortest LL-HLS segment: a segment ends at the first keyframe after it. */
  readonly hlsSegmentDuration: Duration.Duration
  /** Complete segments kept per stream (memory bound); older URIs answer 404. */
  readonly hlsSegmentCount: number
  /** Record live streams under this directory (DIR/APP/STREAM/<start>.mp4). */
  readonly recordDir: Option.Option<string>
  /** Record only this app's streams. */
  readonly recordApp: Option.Option<string>
  /** Recordings are split at the first keyframe after this long (0: never). */
  readonly recordSegment: Duration.Duration
  /** … or after this many bytes (0: never). */
  readonly recordMaxBytes: number
  readonly recordFormat: "mp4" | "flv"
  /** POSTed a JSON description of every finished recording. */
  readonly onRecordDone: Option.Option<string>
}

export const defaults: ServerConfigShape = {
  host: "0.0.0.0",
  port: 1935,
  chunkSize: 4096,
  windowAckSize: 5_000_000,
  peerBandwidth: 5_000_000,
  logIoDir: Option.none(),
  gopCache: true,
  gopCacheMaxFrames: 3000,
  gopCacheMaxBytes: 8 * 1024 * 1024,
  maxMessageSize: 8 * 1024 * 1024,
  maxChunkStreams: 64,
  maxChunkSize: 0x7fffffff,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxStreamsPerConnection: 16,
  handshakeTimeout: Duration.seconds(10),
  playerQueueSoftBytes: 2 * 1024 * 1024,
  playerQueueHardBytes: 8 * 1024 * 1024,
  playerMaxLag: Duration.seconds(15),
  shutdownTimeout: Duration.seconds(5),
  pingInterval: Duration.seconds(30),
  pingTimeout: Duration.seconds(30),
  publisherIdleTimeout: Duration.seconds(30),
  maxConnections: 10_000,
  maxConnectionsPerIp: 2_000,
  publisherTakeoverGrace: Duration.seconds(3),
  http: true,
  httpPort: 8080,
  httpHost: Option.none(),
  httpCors: "*",
  httpWaitTimeout: Duration.seconds(30),
  httpHeaderTimeout: Duration.seconds(10),
  apiToken: Option.none(),
  hls: true,
  hlsPartDuration: Duration.millis(200),
  hlsSegmentDuration: Duration.seconds(2),
  hlsSegmentCount: 7,
  recordDir: Option.none(),
  recordApp: Option.none(),
  recordSegment: Duration.hours(1),
  recordMaxBytes: 4 * 1024 * 1024 * 1024,
  recordFormat: "mp4",
  onRecordDone: Option.none()
}

/**
 * A setting out of range, or unreadable from the environment. `message` is one line for the user that
 * names the flag (every setting's flag is its name in kebab case: `chunkSize` is `--chunk-size`).
 */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly setting: string
  readonly message: string
}> {}

/** The command-line flag of a setting: `chunkSize` → `--chunk-size`. */
export const flagOf = (setting: string): string => `--${setting.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`

export class ServerConfig extends Context.Tag("effect-rtmp/ServerConfig")<ServerConfig, ServerConfigShape>() {
  static readonly layer = (overrides: Partial<ServerConfigShape> = {}): Layer.Layer<ServerConfig, ConfigError> =>
    Layer.effect(ServerConfig, validate({ ...defaults, ...overrides }))

  /** Reads `RTMP_*` environment variables over the defaults (and the given overrides). */
  static readonly layerFromEnv = (overrides: Partial<ServerConfigShape> = {}): Layer.Layer<ServerConfig, ConfigError> =>
    Layer.effect(
      ServerConfig,
      fromConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromEnv().pipe(ConfigProvider.nested("rtmp"), ConfigProvider.constantCase)),
        Effect.mapError((error) => new ConfigError({ setting: "environment", message: `invalid RTMP_* environment variable: ${String(error)}` })),
        Effect.flatMap((env) => validate({ ...env, ...overrides }))
      )
    )
}

type NumericSetting = { [K in keyof ServerConfigShape]: ServerConfigShape[K] extends number ? K : never }[keyof ServerConfigShape]
type DurationSetting = { [K in keyof ServerConfigShape]: ServerConfigShape[K] extends Duration.Duration ? K : never }[keyof ServerConfigShape]

/** Integer settings and their inclusive ranges. */
const ranges: ReadonlyArray<readonly [NumericSetting, number, number]> = [
  ["port", 0, 65535],
  // RTMP caps a chunk at 0xFFFFFF bytes; below 128 is the protocol's own default and no peer expects less.
  ["chunkSize", 128, 0xffffff],
  ["windowAckSize", 1, 0xffffffff],
  ["peerBandwidth", 1, 0xffffffff],
  ["gopCacheMaxFrames", 1, Number.MAX_SAFE_INTEGER],
  ["gopCacheMaxBytes", 1, Number.MAX_SAFE_INTEGER],
  ["maxMessageSize", 1, 0xffffff],
  ["maxChunkStreams", 1, 65599],
  ["maxChunkSize", 1, 0x7fffffff],
  ["maxBufferedBytes", 1, Number.MAX_SAFE_INTEGER],
  ["maxStreamsPerConnection", 1, Number.MAX_SAFE_INTEGER],
  ["playerQueueSoftBytes", 1, Number.MAX_SAFE_INTEGER],
  ["playerQueueHardBytes", 1, Number.MAX_SAFE_INTEGER],
  ["maxConnections", 1, Number.MAX_SAFE_INTEGER],
  ["maxConnectionsPerIp", 1, Number.MAX_SAFE_INTEGER],
  ["httpPort", 0, 65535],
  // LL-HLS players (iOS, gohlslib's measurements) need at least 7 segments in the playlist.
  ["hlsSegmentCount", 7, 1000],
  ["recordMaxBytes", 0, Number.MAX_SAFE_INTEGER]
]

/** Durations that must be positive; the others may be 0 (off, or at once). */
const positiveDurations: ReadonlyArray<DurationSetting> = ["handshakeTimeout", "playerMaxLag", "pingInterval", "pingTimeout", "httpWaitTimeout", "httpHeaderTimeout", "hlsPartDuration", "hlsSegmentDuration"]
const durations: ReadonlyArray<DurationSetting> = [...positiveDurations, "shutdownTimeout", "publisherIdleTimeout", "publisherTakeoverGrace", "recordSegment"]

const problem = (config: ServerConfigShape): ConfigError | undefined => {
  const fail = (setting: string, message: string) => new ConfigError({ setting, message: `${flagOf(setting)} ${message}` })
  for (const [setting, min, max] of ranges) {
    const value = config[setting]
    if (!Number.isInteger(value) || value < min || value > max) return fail(setting, `must be between ${min} and ${max} (got ${value})`)
  }
  for (const setting of durations) {
    const millis = Duration.toMillis(config[setting])
    const positive = positiveDurations.includes(setting)
    if (Number.isNaN(millis) || millis < 0 || (positive && millis === 0)) {
      return fail(setting, `must be ${positive ? "more than 0" : "0 or more"} (got ${Duration.format(config[setting])})`)
    }
  }
  if (config.host.trim() === "") return fail("host", "must not be empty")
  if (config.playerQueueSoftBytes > config.playerQueueHardBytes) {
    return fail("playerQueueSoftBytes", `(${config.playerQueueSoftBytes}) must not exceed --player-queue-hard-bytes (${config.playerQueueHardBytes})`)
  }
  return undefined
}

/** Checks ranges once at start-up, so a bad value fails loudly, naming its flag, instead of misbehaving later. */
export const validate = (config: ServerConfigShape): Effect.Effect<ServerConfigShape, ConfigError> => {
  const error = problem(config)
  return error === undefined ? Effect.succeed(config) : Effect.fail(error)
}

const fromConfig = Config.all({
  host: Config.string("host").pipe(Config.withDefault(defaults.host)),
  port: Config.integer("port").pipe(Config.withDefault(defaults.port)),
  chunkSize: Config.integer("chunk_size").pipe(Config.withDefault(defaults.chunkSize)),
  windowAckSize: Config.integer("window_ack_size").pipe(Config.withDefault(defaults.windowAckSize)),
  peerBandwidth: Config.integer("peer_bandwidth").pipe(Config.withDefault(defaults.peerBandwidth)),
  logIoDir: Config.option(Config.string("log_io_dir")),
  gopCache: Config.boolean("gop_cache").pipe(Config.withDefault(defaults.gopCache)),
  gopCacheMaxFrames: Config.integer("gop_cache_max_frames").pipe(Config.withDefault(defaults.gopCacheMaxFrames)),
  gopCacheMaxBytes: Config.integer("gop_cache_max_bytes").pipe(Config.withDefault(defaults.gopCacheMaxBytes)),
  maxMessageSize: Config.integer("max_message_size").pipe(Config.withDefault(defaults.maxMessageSize)),
  maxChunkStreams: Config.integer("max_chunk_streams").pipe(Config.withDefault(defaults.maxChunkStreams)),
  maxChunkSize: Config.integer("max_chunk_size").pipe(Config.withDefault(defaults.maxChunkSize)),
  maxBufferedBytes: Config.integer("max_buffered_bytes").pipe(Config.withDefault(defaults.maxBufferedBytes)),
  maxStreamsPerConnection: Config.integer("max_streams_per_connection").pipe(
    Config.withDefault(defaults.maxStreamsPerConnection)
  ),
  handshakeTimeout: Config.duration("handshake_timeout").pipe(Config.withDefault(defaults.handshakeTimeout)),
  playerQueueSoftBytes: Config.integer("player_queue_soft_bytes").pipe(Config.withDefault(defaults.playerQueueSoftBytes)),
  playerQueueHardBytes: Config.integer("player_queue_hard_bytes").pipe(Config.withDefault(defaults.playerQueueHardBytes)),
  playerMaxLag: Config.duration("player_max_lag").pipe(Config.withDefault(defaults.playerMaxLag)),
  shutdownTimeout: Config.duration("shutdown_timeout").pipe(Config.withDefault(defaults.shutdownTimeout)),
  pingInterval: Config.duration("ping_interval").pipe(Config.withDefault(defaults.pingInterval)),
  pingTimeout: Config.duration("ping_timeout").pipe(Config.withDefault(defaults.pingTimeout)),
  publisherIdleTimeout: Config.duration("publisher_idle_timeout").pipe(Config.withDefault(defaults.publisherIdleTimeout)),
  maxConnections: Config.integer("max_connections").pipe(Config.withDefault(defaults.maxConnections)),
  maxConnectionsPerIp: Config.integer("max_connections_per_ip").pipe(Config.withDefault(defaults.maxConnectionsPerIp)),
  publisherTakeoverGrace: Config.duration("publisher_takeover_grace").pipe(Config.withDefault(defaults.publisherTakeoverGrace)),
  http: Config.boolean("http").pipe(Config.withDefault(defaults.http)),
  httpPort: Config.integer("http_port").pipe(Config.withDefault(defaults.httpPort)),
  httpHost: Config.option(Config.string("http_host")),
  httpCors: Config.string("http_cors").pipe(Config.withDefault(defaults.httpCors)),
  httpWaitTimeout: Config.duration("http_wait_timeout").pipe(Config.withDefault(defaults.httpWaitTimeout)),
  httpHeaderTimeout: Config.duration("http_header_timeout").pipe(Config.withDefault(defaults.httpHeaderTimeout)),
  apiToken: Config.option(Config.redacted("api_token")),
  hls: Config.boolean("hls").pipe(Config.withDefault(defaults.hls)),
  hlsPartDuration: Config.duration("hls_part_duration").pipe(Config.withDefault(defaults.hlsPartDuration)),
  hlsSegmentDuration: Config.duration("hls_segment_duration").pipe(Config.withDefault(defaults.hlsSegmentDuration)),
  hlsSegmentCount: Config.integer("hls_segment_count").pipe(Config.withDefault(defaults.hlsSegmentCount)),
  recordDir: Config.option(Config.string("record_dir")),
  recordApp: Config.option(Config.string("record_app")),
  recordSegment: Config.duration("record_segment").pipe(Config.withDefault(defaults.recordSegment)),
  recordMaxBytes: Config.integer("record_max_bytes").pipe(Config.withDefault(defaults.recordMaxBytes)),
  recordFormat: Config.literal("mp4", "flv")("record_format").pipe(Config.withDefault(defaults.recordFormat)),
  onRecordDone: Config.option(Config.string("on_record_done"))
})
