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
import type * as http from "node:http"
import { decodeSegments, streamOf } from "../http/paths.js"
import type { HlsPackager } from "./packager.js"
import { renderMultivariantPlaylist } from "./playlist.js"

export type HlsTarget =
  | { readonly kind: "multivariant"; readonly app: string; readonly name: string }
  | { readonly kind: "media"; readonly app: string; readonly name: string }
  | { readonly kind: "init"; readonly app: string; readonly name: string; readonly sid: string }
  | { readonly kind: "segment"; readonly app: string; readonly name: string; readonly sid: string; readonly msn: number }
  | { readonly kind: "part"; readonly app: string; readonly name: string; readonly sid: string; readonly msn: number; readonly part: number }

/** Which HLS resource a path names, if any. */
export const parseHlsPath = (pathname: string): HlsTarget | undefined => {
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
  const match = /^([0-9a-f]+)-(?:(init)\.mp4|s(\d+)\.m4s|p(\d+)\.(\d+)\.m4s)$/.exec(file)
  if (match === null) return undefined
  const sid = match[1] as string
  if (match[2] !== undefined) return { kind: "init", app, name, sid }
  if (match[3] !== undefined) return { kind: "segment", app, name, sid, msn: Number(match[3]) }
  return { kind: "part", app, name, sid, msn: Number(match[4]), part: Number(match[5]) }
}

const send = (res: http.ServerResponse, status: number, type: string, body: string | Uint8Array | ReadonlyArray<Uint8Array>, cors: string, cache: string) => {
  const chunks = typeof body === "string" || body instanceof Uint8Array ? [body] : body
  const length = chunks.reduce((n, c) => n + Buffer.byteLength(c), 0)
  res.writeHead(status, { "content-type": type, "content-length": length, "access-control-allow-origin": cors, "cache-control": cache })
  if (chunks.length === 1) return void res.end(chunks[0])
  // Shared Buffers go out as they are (a segment is its parts, written in order, never concatenated).
  res.cork()
  for (const chunk of chunks) res.write(chunk)
  res.end()
  res.uncork()
}

const error = (res: http.ServerResponse, status: number, message: string, cors: string) => send(res, status, "text/plain; charset=utf-8", `${message}\n`, cors, "no-store")

/** Holds the request until (msn, part) is published, the packager stops, or three target durations pass. */
const blockUntil = (packager: HlsPackager, res: http.ServerResponse, msn: number, part: number, then: () => void, cors: string) => {
  if (packager.hasPart(msn, part)) return then()
  let done = false
  const finish = (action: () => void) => {
    if (done) return
    done = true
    clearTimeout(timer)
    forget()
    action()
  }
  const forget = packager.waitFor(msn, part, () => finish(() => (packager.stopped ? error(res, 404, "the stream ended", cors) : then())))
  const timer = setTimeout(() => finish(() => error(res, 503, "the part did not come in time", cors)), 3 * packager.targetDuration * 1000)
  res.on("close", () => finish(() => {}))
}

/** Answers an HLS request for a stream's packager (already found and authorized). */
export const serveHls = (target: HlsTarget, packager: HlsPackager, url: URL, res: http.ServerResponse, cors: string): void => {
  const immutable = "public, max-age=3600, immutable"
  const mediaType = packager.mediaType()
  // The client's own query (a token) is kept on every URI; the _HLS_ directives are not. Most requests have none.
  let clientQuery = ""
  if (url.search !== "") {
    const query = new URLSearchParams(url.search)
    for (const key of [...query.keys()]) if (key.startsWith("_HLS_")) query.delete(key)
    clientQuery = query.toString()
  }
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
      return send(res, 200, "application/vnd.apple.mpegurl", variant, cors, "no-cache")
    }
    case "media": {
      const msnParam = url.searchParams.get("_HLS_msn")
      const partParam = url.searchParams.get("_HLS_part")
      const skip = ["YES", "v2"].includes(url.searchParams.get("_HLS_skip") ?? "")
      const respond = () => send(res, 200, "application/vnd.apple.mpegurl", packager.playlist(clientQuery, skip), cors, "no-cache")
      if (partParam !== null && msnParam === null) return error(res, 400, "_HLS_part needs _HLS_msn", cors)
      if (msnParam === null) return respond()
      const msn = Number(msnParam)
      const part = partParam === null ? undefined : Number(partParam)
      if (!Number.isInteger(msn) || msn < 0 || (part !== undefined && (!Number.isInteger(part) || part < 0))) return error(res, 400, "bad _HLS_msn/_HLS_part", cors)
      const edge = packager.edge()
      // Spec §6.2.5.2: more than two segments ahead is a client error; the Advance Part Limit bounds parts.
      if (msn > edge.msn + 1 || (msn === edge.msn + 1 && (part ?? 0) > Math.ceil(3 / packager.partTarget))) return error(res, 400, "_HLS_msn is too far ahead", cors)
      if (part === undefined) return blockUntil(packager, res, msn + 1, 0, respond, cors) // segment msn complete
      return blockUntil(packager, res, msn, part, respond, cors)
    }
    case "init": {
      const init = packager.initSegment()
      if (target.sid !== packager.sid || init === undefined) return error(res, 404, "no such init segment", cors)
      return send(res, 200, mediaType, init, cors, immutable)
    }
    case "segment": {
      const bytes = target.sid === packager.sid ? packager.segment(target.msn) : undefined
      return bytes === undefined ? error(res, 404, "no such segment", cors) : send(res, 200, mediaType, bytes, cors, immutable)
    }
    case "part": {
      if (target.sid !== packager.sid) return error(res, 404, "no such part", cors)
      const existing = packager.part(target.msn, target.part)
      if (existing !== undefined) return send(res, 200, mediaType, existing, cors, immutable)
      const edge = packager.edge()
      // Only the next part (the preload hint) is worth waiting for; anything else is gone or never will be.
      if (target.msn !== edge.msn || target.part !== edge.part) return error(res, 404, "no such part", cors)
      return blockUntil(
        packager,
        res,
        target.msn,
        target.part,
        () => {
          const bytes = packager.part(target.msn, target.part)
          if (bytes === undefined) error(res, 404, "no such part", cors)
          else send(res, 200, mediaType, bytes, cors, immutable)
        },
        cors
      )
    }
  }
}
