/**
 * RTMP target addresses: `rtmp[s]://host[:port]/app[/more]/stream[?query][#options]` with DNS names,
 * IPv4 or `[IPv6]`, default port 1935 (443 for `rtmps://`, as OBS, ffmpeg and the ingest services use),
 * and the query kept (stream keys often carry `?key=…`). The fragment carries per-relay options that
 * never go on the wire: `#codecs=h264,aac` (what a push may send) and `#fingerprint=SHA256` (a pinned
 * TLS certificate). The seed's `-h ip[:port] -a app -s stream` flags map onto the same type.
 */
import * as Data from "effect/Data"

export interface RtmpUrl {
  /** `rtmps://`: RTMP inside TLS. */
  readonly secure: boolean
  readonly host: string
  readonly port: number
  /** Everything between the host and the last path segment, e.g. `live` or `live/sub`. */
  readonly app: string
  /** The last path segment with its query: what `play`/`publish` name. */
  readonly stream: string
  /** `#codecs=…`: the codecs a push may send to this destination (lower-case names or FourCCs). */
  readonly codecs?: ReadonlyArray<string>
  /** `#fingerprint=…`: the SHA-256 of the certificate this destination must present. */
  readonly fingerprint?: string
}

export class RtmpUrlError extends Data.TaggedError("RtmpUrlError")<{ readonly input: string; readonly message: string }> {}

export const DEFAULT_PORT = 1935
export const DEFAULT_SECURE_PORT = 443

/** Splits `host[:port]` (IPv6 as `[addr]:port`). */
export const parseHostPort = (input: string, defaultPort = DEFAULT_PORT): { readonly host: string; readonly port: number } => {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(input)
  const plain = /^([^:[\]/]+)(?::(\d+))?$/.exec(input)
  const match = bracketed ?? plain
  if (match === null || match[1] === undefined || match[1] === "") {
    throw new RtmpUrlError({ input, message: `'${input}' is not a host or host:port` })
  }
  const port = match[2] === undefined ? defaultPort : Number(match[2])
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RtmpUrlError({ input, message: `port ${match[2]} is out of range` })
  return { host: match[1], port }
}

/** Lower-case hex without separators, the form fingerprints are compared in. */
export const normalizeFingerprint = (input: string): string => input.replace(/[:\s]/g, "").toLowerCase()

const parseOptions = (input: string, fragment: string): Pick<RtmpUrl, "codecs" | "fingerprint"> => {
  const options: { codecs?: ReadonlyArray<string>; fingerprint?: string } = {}
  for (const pair of fragment.split("&").filter((p) => p !== "")) {
    const [key, value = ""] = pair.split("=", 2)
    if (key === "codecs") options.codecs = value.split(",").map((c) => c.trim()).filter((c) => c !== "")
    else if (key === "fingerprint") {
      const hex = normalizeFingerprint(value)
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new RtmpUrlError({ input, message: `#fingerprint= must be a SHA-256 (64 hex digits, colons allowed)` })
      options.fingerprint = hex
    } else throw new RtmpUrlError({ input, message: `unknown URL option '#${key}' (known: codecs, fingerprint)` })
  }
  return options
}

export const parseRtmpUrl = (input: string): RtmpUrl => {
  const trimmed = input.trim()
  const hashAt = trimmed.indexOf("#")
  const match = /^(rtmps?):\/\/([^/]+)\/(.+)$/i.exec(hashAt < 0 ? trimmed : trimmed.slice(0, hashAt))
  if (match === null) throw new RtmpUrlError({ input, message: `'${input}' is not an rtmp[s]://host[:port]/app/stream URL` })
  const secure = (match[1] as string).toLowerCase() === "rtmps"
  const options = hashAt < 0 ? {} : parseOptions(input, trimmed.slice(hashAt + 1))
  const { host, port } = parseHostPort(match[2] as string, secure ? DEFAULT_SECURE_PORT : DEFAULT_PORT)
  const path = match[3] as string
  const queryAt = path.indexOf("?")
  const pathOnly = queryAt < 0 ? path : path.slice(0, queryAt)
  const query = queryAt < 0 ? "" : path.slice(queryAt)
  const cut = pathOnly.lastIndexOf("/")
  if (cut <= 0 || cut === pathOnly.length - 1) {
    throw new RtmpUrlError({ input, message: `'${input}' needs both an app and a stream name` })
  }
  return { secure, host, port, app: pathOnly.slice(0, cut), stream: pathOnly.slice(cut + 1) + query, ...options }
}

/** The seed's `-h host[:port] -a app -s stream` form. */
export const fromParts = (hostPort: string, app: string, stream: string): RtmpUrl => {
  if (app === "" || stream === "") throw new RtmpUrlError({ input: `${hostPort} ${app} ${stream}`, message: "app and stream must not be empty" })
  return { secure: false, ...parseHostPort(hostPort), app, stream }
}

const hostPart = (url: RtmpUrl) => `${url.host.includes(":") ? `[${url.host}]` : url.host}:${url.port}`

export const tcUrl = (url: RtmpUrl): string => `${url.secure ? "rtmps" : "rtmp"}://${hostPart(url)}/${url.app}`

export const format = (url: RtmpUrl): string => `${tcUrl(url)}/${url.stream}`

/** For logs and health reports: the stream name is often a secret key, so it never appears. */
export const redact = (url: RtmpUrl): string => `${tcUrl(url)}/***`

/** A local stream reference `app/name` (the app may contain slashes; the name is the last segment). */
export const parseLocalStream = (input: string): { readonly app: string; readonly name: string } => {
  const cut = input.lastIndexOf("/")
  if (cut <= 0 || cut === input.length - 1) throw new RtmpUrlError({ input, message: `'${input}' is not APP/STREAM` })
  return { app: input.slice(0, cut), name: input.slice(cut + 1) }
}

/**
 * Where an E-RTMP ReconnectRequest's `tcUrl` points, for a client now on `current`: absolute
 * (`rtmp[s]://host[:port]/app`), scheme-relative (`//host[:port]/app`) or path-only (`/app`); absent means
 * the same URL. The stream name and the URL's own options (`#codecs`, `#fingerprint`) are kept.
 */
export const resolveTcUrl = (current: RtmpUrl, tcUrl: string | undefined): RtmpUrl => {
  if (tcUrl === undefined || tcUrl === "") return current
  const scheme = current.secure ? "rtmps" : "rtmp"
  const absolute = /^rtmps?:\/\//i.test(tcUrl) ? tcUrl : tcUrl.startsWith("//") ? `${scheme}:${tcUrl}` : `${scheme}://${hostPart(current)}${tcUrl.startsWith("/") ? "" : "/"}${tcUrl}`
  const parsed = parseRtmpUrl(`${absolute.replace(/\/+$/, "")}/${current.stream}`)
  return {
    ...parsed,
    ...(current.codecs === undefined ? {} : { codecs: current.codecs }),
    ...(current.fingerprint === undefined ? {} : { fingerprint: current.fingerprint })
  }
}
