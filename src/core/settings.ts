/**
 * Every server setting, defined once as data: its kind, default, description and validation. The
 * environment reader (`RTMP_` + the name in constant case, through `Config`, in `config.ts`), the
 * command-line flags (the name in kebab case, through `@effect/cli`, in `cli/options.ts`), `--help`,
 * the defaults and the start-up checks are all derived from this table, so they cannot disagree.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"

interface Base<K extends string, A> {
  readonly kind: K
  readonly default: A
  readonly description: string
  /** The flag's name when it is not the setting's name in kebab case; `alias` is a one-letter form. */
  readonly flag?: string
  readonly alias?: string
}

export interface IntegerSetting extends Base<"integer", number> {
  readonly min: number
  readonly max: number
}
/** Given in (fractional) seconds on the command line, as a duration string (`10 seconds`) in the environment. */
export interface SecondsSetting extends Base<"seconds", Duration.Duration> {
  readonly positive: boolean
  readonly max?: Duration.Duration
}
/** A setting that defaults to on has a `--no-…` flag (its positive form is accepted too). */
export type OnOffSetting = Base<"onOff", boolean>
export type TextSetting = Base<"text", string>
export type OptionalTextSetting = Base<"optionalText", Option.Option<string>>
export type OptionalDirectorySetting = Base<"optionalDirectory", Option.Option<string>>
/** Redacted everywhere; read from `envFallback` when the flag is absent, so `ps` need not show it. */
export interface OptionalSecretSetting extends Base<"optionalSecret", Option.Option<Redacted.Redacted<string>>> {
  readonly envFallback: string
}
export interface ChoiceSetting<A extends string = string> extends Base<"choice", A> {
  readonly values: ReadonlyArray<A>
}

export type Setting = IntegerSetting | SecondsSetting | OnOffSetting | TextSetting | OptionalTextSetting | OptionalDirectorySetting | OptionalSecretSetting | ChoiceSetting

const integer = (value: number, min: number, max: number, description: string, extra: { flag?: string; alias?: string } = {}): IntegerSetting => ({
  kind: "integer",
  default: value,
  min,
  max,
  description,
  ...extra
})
const seconds = (value: Duration.Duration, description: string, positive = true, max?: Duration.Duration): SecondsSetting => ({
  kind: "seconds",
  default: value,
  description,
  positive,
  ...(max === undefined ? {} : { max })
})
const onOff = (value: boolean, description: string): OnOffSetting => ({ kind: "onOff", default: value, description })
const text = (value: string, description: string): TextSetting => ({ kind: "text", default: value, description })
const optionalText = (description: string): OptionalTextSetting => ({ kind: "optionalText", default: Option.none(), description })
const optionalDirectory = (description: string, extra: { flag?: string; alias?: string } = {}): OptionalDirectorySetting => ({
  kind: "optionalDirectory",
  default: Option.none(),
  description,
  ...extra
})
const optionalSecret = (envFallback: string, description: string): OptionalSecretSetting => ({ kind: "optionalSecret", default: Option.none(), description, envFallback })
const choice = <const A extends string>(values: ReadonlyArray<A>, value: A, description: string): ChoiceSetting<A> => ({ kind: "choice", values, default: value, description })

const ANY = Number.MAX_SAFE_INTEGER

export const settings = {
  host: text("0.0.0.0", "Interface to listen on"),
  port: integer(1935, 0, 65535, "RTMP port (0 picks a free one)", { alias: "p" }),
  logIoDir: optionalDirectory("Write the raw bytes of every connection to DIR (default ./logs), one file per direction", { flag: "log-io", alias: "l" }),
  // RTMP caps a chunk at 0xFFFFFF bytes; below 128 is the protocol's own default and no peer expects less.
  chunkSize: integer(4096, 128, 0xffffff, "Outgoing RTMP chunk size in bytes"),
  windowAckSize: integer(5_000_000, 1, 0xffffffff, "Bytes after which peers are asked to acknowledge (Window Acknowledgement Size)"),
  peerBandwidth: integer(5_000_000, 1, 0xffffffff, "Bandwidth announced to peers with Set Peer Bandwidth, in bytes"),
  gopCache: onOff(true, "Keep the last GOP so players start at once on a keyframe"),
  gopCacheMaxFrames: integer(3000, 1, ANY, "Most media messages kept in one GOP cache (a longer GOP is not cached)"),
  gopCacheMaxBytes: integer(8 * 1024 * 1024, 1, ANY, "Most bytes kept in one GOP cache"),
  maxMessageSize: integer(8 * 1024 * 1024, 1, 0xffffff, "Largest incoming RTMP message accepted, in bytes"),
  maxChunkStreams: integer(64, 1, 65599, "Most chunk streams one connection may use"),
  maxChunkSize: integer(0x7fffffff, 1, 0x7fffffff, "Largest chunk size a peer may set (memory never depends on it)"),
  maxBufferedBytes: integer(16 * 1024 * 1024, 1, ANY, "Most bytes held for unfinished incoming messages on one connection"),
  maxStreamsPerConnection: integer(16, 1, ANY, "Most createStream calls one connection may make"),
  handshakeTimeout: seconds(Duration.seconds(10), "Time a client has to complete the handshake"),
  playerQueueSoftBytes: integer(2 * 1024 * 1024, 1, ANY, "Bytes queued to a viewer above which it skips to the next keyframe"),
  playerQueueHardBytes: integer(8 * 1024 * 1024, 1, ANY, "Bytes queued to a viewer above which it is disconnected"),
  playerMaxLag: seconds(Duration.seconds(15), "Time a viewer may keep skipping frames before it is disconnected"),
  mergeWrites: seconds(
    Duration.zero,
    "Hold each viewer's writes up to this long and send them as one (like SRS's mw_latency): less CPU per viewer for that much more delay (0: send at once)",
    false,
    Duration.seconds(1)
  ),
  shutdownTimeout: seconds(Duration.seconds(5), "Time connections get to close when the server shuts down", false),
  pingInterval: seconds(Duration.seconds(30), "Silence after which a peer is pinged"),
  pingTimeout: seconds(Duration.seconds(30), "Time a pinged peer may stay silent before it is dropped"),
  publisherIdleTimeout: seconds(Duration.seconds(30), "Time a publisher may send no media before it is dropped (0: never)", false),
  maxConnections: integer(10_000, 1, ANY, "Most connections at once, every protocol"),
  maxConnectionsPerIp: integer(2_000, 1, ANY, "Most connections at once from one IP address"),
  tlsCert: optionalText("PEM certificate (with its chain) for RTMPS and HTTPS; reloaded for new connections when the file changes or on SIGHUP"),
  tlsKey: optionalText("PEM private key of --tls-cert"),
  rtmpsPort: integer(1936, 0, 65535, "RTMPS port, served when --tls-cert is given (0 picks a free one)"),
  httpsPort: integer(8443, 0, 65535, "HTTPS port (the HTTP face over TLS), served when --tls-cert is given (0 picks a free one)"),
  reconnectUrl: optionalText("tcUrl that E-RTMP publishers are asked to reconnect to on shutdown (default: their own URL, e.g. through a load balancer)"),
  reconnectGrace: seconds(Duration.seconds(10), "Time E-RTMP publishers asked to reconnect get to move before shutdown closes them", false),
  clusterRedis: optionalText("Join a cluster whose directory is this Redis: redis://HOST:PORT[/DB] (without it, a single node)"),
  clusterName: text("effect-rtmp", "Cluster name: the prefix of every key in Redis, so clusters can share one"),
  nodeId: optionalText("This node's id in the cluster (default: generated at start)"),
  advertise: optionalText("How other nodes reach this one: rtmp://HOST:PORT (default: rtmp://HOST:PORT from --host/--port, 127.0.0.1 for 0.0.0.0)"),
  clusterTtl: seconds(Duration.seconds(15), "Lifetime of this node's heartbeat, stream claims and relay leases in Redis (refreshed every third of it)"),
  clusterCloseAfter: seconds(Duration.seconds(10), "Time an edge keeps pulling a stream after its last viewer left", false),
  publisherTakeoverGrace: seconds(Duration.seconds(3), "Time without media after which a new publisher on the same stream takes it over", false),
  http: onOff(true, "Serve HTTP: HTTP-FLV, WS-FLV, LL-HLS, the player page, the API and /metrics"),
  httpPort: integer(8080, 0, 65535, "HTTP port (0 picks a free one)"),
  httpHost: optionalText("Interface for HTTP (default: --host)"),
  httpCors: text("*", "Access-Control-Allow-Origin for media and the read API"),
  httpWaitTimeout: seconds(Duration.seconds(30), "Time an HTTP/WS viewer waits for a stream that is not live yet"),
  httpHeaderTimeout: seconds(Duration.seconds(10), "Time a client has to send its request headers"),
  httpMaxPipelined: integer(32, 1, ANY, "Most requests of one HTTP connection waiting for their answers (pipelined); one more closes it"),
  apiToken: optionalSecret("RTMP_API_TOKEN", "Bearer token for the API's write endpoints; without one they are refused"),
  hls: onOff(true, "Serve live streams as LL-HLS"),
  // On demand by default (as MediaMTX does): packaging from publish costs an ingest server twice the CPU and
  // seven segments of memory per stream, for streams most of which nobody watches over HLS.
  hlsOnDemand: onOff(true, "Package a live stream as LL-HLS only from its first HLS request (seeded from the GOP cache; the first playlist waits up to a GOP) until --hls-idle-timeout passes without one, instead of from the moment it goes live"),
  hlsIdleTimeout: seconds(Duration.seconds(60), "Stop packaging a stream on demand after this long without an HLS request"),
  hlsPartDuration: seconds(Duration.millis(200), "LL-HLS part duration"),
  hlsSegmentDuration: seconds(Duration.seconds(2), "Shortest LL-HLS segment (segments end at the first keyframe after it)"),
  // LL-HLS players (iOS; gohlslib's experience) need at least 7 segments in the playlist.
  hlsSegmentCount: integer(7, 7, 1000, "LL-HLS segments kept per stream; older URIs answer 404"),
  recordDir: optionalDirectory("Record live streams under DIR (DIR/APP/STREAM/<start time>.mp4)", { flag: "record" }),
  recordApp: optionalText("Record only this app's streams"),
  recordSegment: seconds(Duration.hours(1), "Time after which a recording continues in a new file, at a keyframe (0: never)", false),
  recordMaxBytes: integer(4 * 1024 * 1024 * 1024, 0, ANY, "Bytes after which a recording continues in a new file, at a keyframe (0: never)"),
  recordFormat: choice(["mp4", "flv"], "mp4", "mp4: fragmented MP4, crash-safe (a kill -9 loses at most the last second); flv: plain FLV"),
  onRecordDone: optionalText("POST a JSON description of every finished recording to URL")
} as const

export type SettingName = keyof typeof settings

type ValueOf<S> = S extends Base<string, infer A> ? A : never

/** Every tunable of the server; see `settings` for what each means, its default and its range. */
export type ServerConfigShape = { readonly [K in SettingName]: ValueOf<(typeof settings)[K]> }

/** `chunkSize` → `chunk-size`, or the setting's own flag name. */
export const flagName = (name: SettingName): string => settings[name].flag ?? name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** `chunkSize` → `chunk_size` (the environment provider makes it `RTMP_CHUNK_SIZE`). */
export const envName = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/** Applies `f` to every setting, keeping each key's type (the one place this table is walked generically). */
export const mapSettings = <R extends { readonly [K in SettingName]: unknown }>(f: (name: SettingName, setting: Setting) => unknown): R =>
  Object.fromEntries((Object.keys(settings) as Array<SettingName>).map((name) => [name, f(name, settings[name] as Setting)])) as R
