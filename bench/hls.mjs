// HLS viewers for the benchmark, in-process, each behaving like a player:
// - LL-HLS (effect-rtmp): blocking playlist reloads (_HLS_msn/_HLS_part, as hls.js asks) and one GET per
//   part as it is published.
// - classic HLS (nginx-rtmp): the playlist polled every half target duration, every new segment fetched.
// Latency, for both: when a unit (part or segment) is received − when its first frame was ingested (LL:
// the segment's PROGRAM-DATE-TIME plus the parts before it; classic: its first appearance in the playlist
// minus its duration). It is the age of the newest media a player holds; players then add their hold-back
// (LL: PART-HOLD-BACK 0.6 s; classic: hls.js keeps 3 target durations).
// Server CPU and RSS over the hold window from /proc (bench/measure.mjs), like the other measurements.
import * as http from "node:http"
import { costFigures, holdWindow, percentile, sleep } from "./measure.mjs"

const agent = new http.Agent({ keepAlive: true, maxSockets: 2 })

const get = (url) =>
  new Promise((resolve) => {
    const request = http.get(url, { agent }, (response) => {
      const chunks = []
      response.on("data", (c) => chunks.push(c))
      response.on("end", () => resolve({ status: response.statusCode, body: Buffer.concat(chunks) }))
      response.on("error", () => resolve({ status: 0, body: Buffer.alloc(0) }))
    })
    request.on("error", () => resolve({ status: 0, body: Buffer.alloc(0) }))
    request.setTimeout(15000, () => request.destroy())
  })

/** One LL-HLS player: returns counters it keeps updating until `stop.now`. */
const llhlsViewer = (base, stop) => {
  const state = { bytes: 0, latencies: [], errors: 0, reloads: 0 }
  const run = async () => {
    let next = null
    while (!stop.now) {
      const url = next === null ? `${base}/media.m3u8` : `${base}/media.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.part}`
      const playlist = await get(url)
      state.reloads++
      if (playlist.status !== 200) {
        state.errors++
        await sleep(200)
        continue
      }
      const text = playlist.body.toString()
      // The newest part and when it was captured: the last PROGRAM-DATE-TIME plus the parts after it.
      let pdt = 0
      let offset = 0
      let newest = null
      for (const line of text.split("\n")) {
        if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) {
          pdt = Date.parse(line.slice(25))
          offset = 0
        } else if (line.startsWith("#EXT-X-PART:")) {
          const duration = Number(/DURATION=([\d.]+)/.exec(line)?.[1] ?? 0)
          newest = { uri: /URI="([^"]+)"/.exec(line)?.[1], start: pdt + offset }
          offset += duration * 1000
        } else if (line.startsWith("#EXTINF:")) {
          // The next segment (the open one has no PROGRAM-DATE-TIME of its own yet) starts where this one ends.
          pdt += Number(line.slice(8).split(",")[0]) * 1000
          offset = 0
        }
      }
      const hint = /PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+-p(\d+)\.(\d+)\.m4s/.exec(text)
      if (newest?.uri !== undefined) {
        const part = await get(`${base}/${newest.uri}`)
        if (part.status === 200) {
          state.bytes += part.body.length
          if (next !== null) state.latencies.push(Date.now() - newest.start)
        } else state.errors++
      }
      next = hint === null ? null : { msn: Number(hint[1]), part: Number(hint[2]) }
    }
  }
  state.done = run()
  return state
}

/** One classic-HLS player against nginx-rtmp: joins at the newest segment, then fetches each new one. */
const classicViewer = (playlistUrl, stop) => {
  const state = { bytes: 0, latencies: [], errors: 0, reloads: 0 }
  const base = playlistUrl.slice(0, playlistUrl.lastIndexOf("/"))
  const firstSeen = new Map()
  const fetched = new Set()
  const run = async () => {
    let joined = false
    while (!stop.now) {
      const playlist = await get(playlistUrl)
      state.reloads++
      if (playlist.status !== 200) {
        state.errors++
        await sleep(500)
        continue
      }
      const lines = playlist.body.toString().split("\n")
      const target = Number(lines.find((l) => l.startsWith("#EXT-X-TARGETDURATION:"))?.slice(22) ?? 1)
      const segments = []
      for (let i = 0; i < lines.length; i++) {
        if (!lines[i].startsWith("#EXTINF:")) continue
        const uri = lines[i + 1]
        if (!firstSeen.has(uri)) firstSeen.set(uri, Date.now() - Number(lines[i].slice(8).split(",")[0]) * 1000)
        segments.push(uri)
      }
      if (!joined) {
        segments.slice(0, -1).forEach((uri) => fetched.add(uri))
        joined = true
      }
      for (const uri of segments) {
        if (fetched.has(uri)) continue
        fetched.add(uri)
        const segment = await get(`${base}/${uri}`)
        if (segment.status === 200) {
          state.bytes += segment.body.length
          state.latencies.push(Date.now() - firstSeen.get(uri))
        } else state.errors++
      }
      await sleep((target * 1000) / 2)
    }
  }
  state.done = run()
  return state
}

/** One measurement: `kind` "llhls" (base = http://host:port/live/bench) or "classic" (playlist URL). */
export const hlsFanout = async ({ kind, url, viewers: count, hold, pid, settle = 4 }) => {
  const stop = { now: false }
  const viewers = []
  for (let i = 0; i < count; i++) {
    viewers.push(kind === "llhls" ? llhlsViewer(url, stop) : classicViewer(url, stop))
    if (i % 50 === 49) await sleep(20)
  }
  await sleep(settle * 1000)
  const before = viewers.map((v) => v.bytes)
  viewers.forEach((v) => (v.latencies.length = 0))
  const window = await holdWindow(pid, hold)
  stop.now = true
  const latencies = viewers.flatMap((v) => v.latencies)
  return {
    viewers: count,
    ...costFigures(window, viewers.reduce((sum, v, i) => sum + v.bytes - before[i], 0)),
    latency_ms_p50: percentile(latencies, 50),
    latency_ms_p95: percentile(latencies, 95),
    errors: viewers.reduce((sum, v) => sum + v.errors, 0),
    receiving: viewers.filter((v, i) => v.bytes > before[i]).length
  }
}
