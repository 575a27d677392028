/**
 * Relay flags: `--pull URL=APP/STREAM` and `--push APP/STREAM=URL` (repeatable), the retry policy and
 * timeouts, and the seed-compatible `pull`/`push` subcommand flags `-a -h -s -t`.
 */
import { HelpDoc, Options } from "@effect/cli"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { defaultRelayConfig, type RelayConfig } from "../relay/relays.js"
import { retryPolicy } from "../relay/supervisor.js"
import { normalizeFingerprint, parseLocalStream, parseRtmpUrl } from "../relay/url.js"

const invalid = (e: unknown) => HelpDoc.p(e instanceof Error ? e.message : String(e))

/** `rtmp://host/app/stream?key=a=b=LOCALAPP/NAME`: the URL may contain `=`, the local part may not. */
export const parsePullSpec = (input: string) => {
  const cut = input.lastIndexOf("=")
  if (cut < 0) throw new Error(`--pull '${input}' is not URL=APP/STREAM`)
  return { remote: parseRtmpUrl(input.slice(0, cut)), ...parseLocalStream(input.slice(cut + 1)) }
}

/** `APP/STREAM=rtmp://host/app/key?x=y`: split at the first `=`. */
export const parsePushSpec = (input: string) => {
  const cut = input.indexOf("=")
  if (cut < 0) throw new Error(`--push '${input}' is not APP/STREAM=URL`)
  return { ...parseLocalStream(input.slice(0, cut)), remote: parseRtmpUrl(input.slice(cut + 1)) }
}

const seconds = (name: string, fallback: Duration.Duration, description: string) =>
  Options.float(name).pipe(Options.withDefault(Duration.toSeconds(fallback)), Options.withDescription(description))

export const relayOptions = {
  pulls: Options.text("pull").pipe(
    Options.repeated,
    Options.withDefault<Array<string>>([]), // shows the flag as optional in the usage line
    Options.mapTryCatch((specs) => specs.map(parsePullSpec), invalid),
    Options.withDescription("Pull rtmp[s]://HOST[:PORT]/APP/STREAM into local APP/STREAM (URL=APP/STREAM); repeatable")
  ),
  pushes: Options.text("push").pipe(
    Options.repeated,
    Options.withDefault<Array<string>>([]), // shows the flag as optional in the usage line
    Options.mapTryCatch((specs) => specs.map(parsePushSpec), invalid),
    Options.withDescription("Push local APP/STREAM to rtmp[s]://HOST[:PORT]/APP/STREAM[#codecs=h264,aac] whenever it is live (APP/STREAM=URL); repeatable")
  ),
  retryBase: Options.float("relay-retry-base").pipe(Options.withDefault(1), Options.withDescription("Seconds before a failed relay's first retry")),
  retryMax: Options.float("relay-retry-max").pipe(Options.withDefault(30), Options.withDescription("Longest wait between relay retries, in seconds (the delay doubles up to it, with jitter)")),
  maxAttempts: Options.integer("relay-max-attempts").pipe(Options.withDefault(0), Options.withDescription("Failures after which a relay gives up (0: never)")),
  timeout: seconds("relay-timeout", defaultRelayConfig.timeout, "Seconds a relay waits for a TCP connection, the handshake, or a reply"),
  idleTimeout: seconds("relay-idle-timeout", defaultRelayConfig.idleTimeout, "Seconds without media after which a pull reconnects"),
  healthyAfter: seconds(
    "relay-healthy-after",
    defaultRelayConfig.healthyAfter,
    "Seconds of media after which a relay's next failure restarts the backoff from the first delay"
  ),
  tlsCa: Options.file("relay-tls-ca", { exists: "yes" }).pipe(
    Options.mapTryCatch((path) => fs.readFileSync(path), invalid),
    Options.optional,
    Options.withDescription("PEM file of the CA(s) that rtmps:// relay peers are verified against, instead of the system CAs")
  ),
  tlsFingerprint: Options.text("relay-tls-fingerprint").pipe(
    Options.mapTryCatch((value) => {
      const hex = normalizeFingerprint(value)
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`--relay-tls-fingerprint must be a SHA-256 (64 hex digits, colons allowed)`)
      return hex
    }, invalid),
    Options.optional,
    Options.withDescription("SHA-256 of the certificate rtmps:// relay peers must present (pinning, for self-signed origins); a URL's #fingerprint= wins")
  ),
  tlsInsecure: Options.boolean("relay-tls-insecure").pipe(
    Options.withDescription("Accept any certificate from rtmps:// relay peers (encrypted, not authenticated; logs a warning)")
  )
} as const

export interface RelayFlags {
  readonly pulls: ReadonlyArray<RelayConfig["pulls"][number]>
  readonly pushes: ReadonlyArray<RelayConfig["pushes"][number]>
  readonly retryBase: number
  readonly retryMax: number
  readonly maxAttempts: number
  readonly timeout: number
  readonly idleTimeout: number
  readonly healthyAfter: number
  readonly tlsCa: Option.Option<Buffer>
  readonly tlsFingerprint: Option.Option<string>
  readonly tlsInsecure: boolean
}

export const toRelayConfig = (flags: RelayFlags, extra: Partial<Pick<RelayConfig, "pulls" | "pushes">> = {}): RelayConfig => ({
  pulls: [...flags.pulls, ...(extra.pulls ?? [])],
  pushes: [...flags.pushes, ...(extra.pushes ?? [])],
  policy: retryPolicy({
    base: Duration.seconds(flags.retryBase),
    max: Duration.seconds(flags.retryMax),
    maxAttempts: flags.maxAttempts,
    jitter: true
  }),
  timeout: Duration.seconds(flags.timeout),
  idleTimeout: Duration.seconds(flags.idleTimeout),
  healthyAfter: Duration.seconds(flags.healthyAfter),
  tls: { ca: Option.getOrUndefined(flags.tlsCa), fingerprint: Option.getOrUndefined(flags.tlsFingerprint), insecure: flags.tlsInsecure }
})

/** The seed's `pull`/`push` flags: `-a app -h host[:port] -s stream -t target`. */
export const seedRelayOptions = {
  app: Options.text("app").pipe(Options.withAlias("a"), Options.withDescription("App on both sides (seed: -a)")),
  remoteHost: Options.text("remote-host").pipe(Options.withDescription("Remote host[:port] (seed: -h; DNS names work)")),
  stream: Options.text("stream").pipe(Options.withAlias("s"), Options.withDescription("Remote stream to pull / local source stream to push (seed: -s)")),
  target: Options.text("target").pipe(Options.withAlias("t"), Options.withDescription("Local target stream of a pull / remote target stream of a push (seed: -t)"))
} as const
