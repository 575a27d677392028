/**
 * RTMP target addresses: `rtmp://host[:port]/app[/more]/stream[?query]` with DNS names, IPv4 or
 * `[IPv6]`, default port 1935, and the query kept (stream keys often carry `?key=…`). The seed's
 * `-h ip[:port] -a app -s stream` flags map onto the same type.
 */
import { Data } from "effect"

export interface RtmpUrl {
  readonly host: string
  readonly port: number
  /** Everything between the host and the last path segment, e.g. `live` or `live/sub`. */
  readonly app: string
  /** The last path segment with its query: what `play`/`publish` name. */
  readonly stream: string
}

export class RtmpUrlError extends Data.TaggedError("RtmpUrlError")<{ readonly input: string; readonly message: string }> {}

export const DEFAULT_PORT = 1935

/** Splits `host[:port]` (IPv6 as `[addr]:port`). */
export const parseHostPort = (input: string): { readonly host: string; readonly port: number } => {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(input)
  const plain = /^([^:[\]/]+)(?::(\d+))?$/.exec(input)
  const match = bracketed ?? plain
  if (match === null || match[1] === undefined || match[1] === "") {
    throw new RtmpUrlError({ input, message: `'${input}' is not a host or host:port` })
  }
  const port = match[2] === undefined ? DEFAULT_PORT : Number(match[2])
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RtmpUrlError({ input, message: `port ${match[2]} is out of range` })
  return { host: match[1], port }
}

export const parseRtmpUrl = (input: string): RtmpUrl => {
  const match = /^rtmp:\/\/([^/]+)\/(.+)$/i.exec(input.trim())
  if (match === null) throw new RtmpUrlError({ input, message: `'${input}' is not an rtmp://host[:port]/app/stream URL` })
  const { host, port } = parseHostPort(match[1] as string)
  const path = match[2] as string
  const queryAt = path.indexOf("?")
  const pathOnly = queryAt < 0 ? path : path.slice(0, queryAt)
  const query = queryAt < 0 ? "" : path.slice(queryAt)
  const cut = pathOnly.lastIndexOf("/")
  if (cut <= 0 || cut === pathOnly.length - 1) {
    throw new RtmpUrlError({ input, message: `'${input}' needs both an app and a stream name` })
  }
  return { host, port, app: pathOnly.slice(0, cut), stream: pathOnly.slice(cut + 1) + query }
}

/** The seed's `-h host[:port] -a app -s stream` form. */
export const fromParts = (hostPort: string, app: string, stream: string): RtmpUrl => {
  if (app === "" || stream === "") throw new RtmpUrlError({ input: `${hostPort} ${app} ${stream}`, message: "app and stream must not be empty" })
  return { ...parseHostPort(hostPort), app, stream }
}

const hostPart = (url: RtmpUrl) => `${url.host.includes(":") ? `[${url.host}]` : url.host}:${url.port}`

export const tcUrl = (url: RtmpUrl): string => `rtmp://${hostPart(url)}/${url.app}`

export const format = (url: RtmpUrl): string => `${tcUrl(url)}/${url.stream}`

/** For logs and health reports: the stream name is often a secret key, so it never appears. */
export const redact = (url: RtmpUrl): string => `${tcUrl(url)}/***`

/** A local stream reference `app/name` (the app may contain slashes; the name is the last segment). */
export const parseLocalStream = (input: string): { readonly app: string; readonly name: string } => {
  const cut = input.lastIndexOf("/")
  if (cut <= 0 || cut === input.length - 1) throw new RtmpUrlError({ input, message: `'${input}' is not APP/STREAM` })
  return { app: input.slice(0, cut), name: input.slice(cut + 1) }
}
