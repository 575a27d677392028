/**
 * LL-HLS over HTTP, on the raw Node request (every response is a prebuilt Buffer or string):
 *   GET /APP/STREAM.m3u8                    multivariant playlist (CODECS, RESOLUTION, BANDWIDTH)
 *   GET /APP/STREAM/media.m3u8              media playlist; _HLS_msn/_HLS_part block (spec §6.2.5.2), _HLS_skip=YES|v2 deltas
 *   GET /APP/STREAM/SID-init.mp4            init segment
 *   GET /APP/STREAM/SID-sM.m4s              segment M
 *   GET /APP/STREAM/SID-pM.N.m4s            part N of segment M (a preload hint blocks until it is complete)
 * A blocked request answers 503 after three target durations; a request too far ahead, or `_HLS_part`
 * without `_HLS_msn`, answers 400; evicted or unknown URIs answer 404.
 */
import type { FrontReply } from "../http/front.js"
import { decodeSegments, streamOf } from "../http/paths.js"
import type { HlsPackager } from "./packager.js"
import { renderMultivariantPlaylist } from "./playlist.js"

export type HlsTarget =
  | { readonly kind: "multivariant"; readonly app: string; readonly name: string }
  | { readonly kind: "media"; readonly app: string; readonly name: string }
  | { readonly kind: "init"; readonly app: string; readonly name: string; readonly sid: string; readonly index: number }
  | { readonly kind: "segment"; readonly app: string; readonly name: string; readonly sid: string; readonly msn: number }
  | { readonly kind: "part"; readonly app: string; readonly name: string; readonly sid: string; readonly msn: number; readonly part: number }

/**
 * Memo of small parsed values by the text they came from: a thousand viewers ask for the same part
 * URIs and send the same `_HLS_*` queries, so each is parsed once. Emptied when it grows past `limit`.
 */
const memo = <A>(parse: (text: string) => A, limit = 4096): ((text: string) => A) => {
  const cache = new Map<string, A>()
  return (text) => {
    let value = cache.get(text)
    if (value === undefined && !cache.has(text)) {
      if (cache.size >= limit) cache.clear()
      value = parse(text)
      cache.set(text, value)
    }
    return value as A
  }
}

/** Which HLS resource a path names, if any (percent-encoded path, memoized). */
export const parseHlsPath = (pathname: string): HlsTarget | undefined => targetOf(pathname)

const targetOf = memo((pathname: string): HlsTarget | undefined => {
  if (pathname.endsWith(".m3u8") && !pathname.endsWith("/media.m3u8")) {
    const stream = streamOf(decodeSegments(pathname.slice(1, -5).split("/")))
    return stream === undefined ? undefined : { kind: "multivariant", ...stream }
  }
  const segments = decodeSegments(pathname.slice(1).split("/"))
  if (segments === undefined || segments.length < 3) return undefined
  const file = segments.at(-1) ?? ""
  const app = segments.slice(0, -2).join("/")
  const name = segments.at(-2) ?? ""
  if (file === "media.m3u8") return { kind: "media", app, name }
  const match = /^([0-9a-f]+)-(?:init(\d*)\.mp4|s(\d+)\.m4s|p(\d+)\.(\d+)\.m4s)$/.exec(file)
  if (match === null) return undefined
  const sid = match[1] as string
  if (match[2] !== undefined) return { kind: "init", app, name, sid, index: match[2] === "" ? 1 : Number(match[2]) }
  if (match[3] !== undefined) return { kind: "segment", app, name, sid, msn: Number(match[3]) }
  return { kind: "part", app, name, sid, msn: Number(match[4]), part: Number(match[5]) }
})

/** A media playlist request's query: the `_HLS_*` directives, and the client's own rest (a token) to carry into every URI. */
interface HlsQuery {
  readonly msn: string | null
  readonly part: string | null
  readonly skip: boolean
  readonly client: string
}

const queryOf = memo((search: string): HlsQuery => {
  const query = new URLSearchParams(search)
  const directives = { msn: query.get("_HLS_msn"), part: query.get("_HLS_part"), skip: ["YES", "v2"].includes(query.get("_HLS_skip") ?? "") }
  for (const key of [...query.keys()]) if (key.startsWith("_HLS_")) query.delete(key)
  return { ...directives, client: query.toString() }
})

const error = (reply: FrontReply, status: number, message: string) => reply.send(status, "text/plain; charset=utf-8", `${message}\n`, "no-store")

/** Holds the request until (msn, part) is published, the packager stops, or three target durations pass (the service's sweep). */
const blockUntil = (packager: HlsPackager, reply: FrontReply, msn: number, part: number, then: () => void) => {
  if (packager.hasPart(msn, part)) return then()
  let done = false
  const finish = (action: () => void) => {
    if (done) return
    done = true
    action()
  }
  const forget = packager.waitFor(
    msn,
    part,
    () => finish(() => (packager.stopped ? error(reply, 404, "the stream ended") : then())),
    () => finish(() => error(reply, 503, "the part did not come in time"))
  )
  reply.onClose(() => finish(forget))
}

/** Answers an HLS request for a stream's packager (already found and authorized); `search` is the query with its `?`. */
export const serveHls = (target: HlsTarget, packager: HlsPackager, search: string, reply: FrontReply): void => {
  const immutable = "public, max-age=3600, immutable"
  const mediaType = packager.mediaType()
  const query = queryOf(search)
  const clientQuery = query.client
  switch (target.kind) {
    case "multivariant": {
      const { width, height } = packager.videoSize()
      const variant = renderMultivariantPlaylist({
        codecs: packager.codecs(),
        bandwidth: packager.bandwidth(),
        width,
        height,
        frameRate: undefined,
        uri: `${encodeURIComponent(target.name)}/media.m3u8${clientQuery === "" ? "" : `?${clientQuery}`}`
      })
      return reply.send(200, "application/vnd.apple.mpegurl", variant, "no-cache")
    }
    case "media": {
      const { msn: msnParam, part: partParam, skip } = query
      const respond = () => reply.send(200, "application/vnd.apple.mpegurl", packager.playlist(clientQuery, skip), "no-cache")
      if (partParam !== null && msnParam === null) return error(reply, 400, "_HLS_part needs _HLS_msn")
      if (msnParam === null) return respond()
      const msn = Number(msnParam)
      const part = partParam === null ? undefined : Number(partParam)
      if (!Number.isInteger(msn) || msn < 0 || (part !== undefined && (!Number.isInteger(part) || part < 0))) return error(reply, 400, "bad _HLS_msn/_HLS_part")
      const edge = packager.edge()
      // Spec §6.2.5.2: more than two segments ahead is a client error; the Advance Part Limit bounds parts.
      if (msn > edge.msn + 1 || (msn === edge.msn + 1 && (part ?? 0) > Math.ceil(3 / packager.partTarget))) return error(reply, 400, "_HLS_msn is too far ahead")
      if (part === undefined) return blockUntil(packager, reply, msn + 1, 0, respond) // segment msn complete
      return blockUntil(packager, reply, msn, part, respond)
    }
    case "init": {
      const init = packager.initSegment(target.index)
      if (target.sid !== packager.sid || init === undefined) return error(reply, 404, "no such init segment")
      return reply.send(200, mediaType, init, immutable)
    }
    case "segment": {
      const bytes = target.sid === packager.sid ? packager.segment(target.msn) : undefined
      return bytes === undefined ? error(reply, 404, "no such segment") : reply.send(200, mediaType, bytes, immutable)
    }
    case "part": {
      if (target.sid !== packager.sid) return error(reply, 404, "no such part")
      const existing = packager.part(target.msn, target.part)
      if (existing !== undefined) return reply.send(200, mediaType, existing, immutable)
      const edge = packager.edge()
      // Only the next part (the preload hint) is worth waiting for; anything else is gone or never will be.
      if (target.msn !== edge.msn || target.part !== edge.part) return error(reply, 404, "no such part")
      return blockUntil(
        packager,
        reply,
        target.msn,
        target.part,
        () => {
          const bytes = packager.part(target.msn, target.part)
          if (bytes === undefined) error(reply, 404, "no such part")
          else reply.send(200, mediaType, bytes, immutable)
        }
      )
    }
  }
}
