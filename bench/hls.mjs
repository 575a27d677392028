// HLS viewers for the benchmark, in-process, each behaving like a player:
// - LL-HLS (effect-rtmp): blocking playlist reloads (_HLS_msn/_HLS_part, delta updates with _HLS_skip=YES
//   once it holds the whole playlist, as hls.js asks) and a GET for every part, in order.
// - classic HLS (nginx-rtmp): the playlist polled every half target duration, every new segment fetched.
// Latency, for both: when a unit (part or segment) is received − when its first frame was ingested (LL:
// the segment's PROGRAM-DATE-TIME plus the parts before it; classic: its first appearance in the playlist
// minus its duration). It is the age of the newest media a player holds; players then add their hold-back
// (LL: PART-HOLD-BACK 0.6 s; classic: hls.js keeps 3 target durations).
// Both talk through the same lean keep-alive HTTP/1.1 client (one connection per player).
// Server CPU and RSS over the hold window from /proc (bench/measure.mjs), like the other measurements.
import * as net from "node:net"
import { costFigures, holdWindow, percentile, sleep } from "./measure.mjs"

/**
 * A lean keep-alive HTTP/1.1 client, one connection per player, so the load generator (one Node process
 * for a thousand players) keeps up and the server, not the client, is what is measured. Requests are
 * sequential; bodies need a Content-Length (both servers send one); a closed connection is reopened.
 */
class Connection {
  constructor(base) {
    const url = new URL(base)
    this.host = url.hostname
    this.port = Number(url.port)
    this.socket = null
    this.pending = null
    this.buffer = Buffer.alloc(0)
  }

  open() {
    const socket = net.connect({ host: this.host, port: this.port })
    socket.setNoDelay(true)
    socket.on("data", (chunk) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
      this.parse()
    })
    const gone = () => {
      if (this.socket === socket) this.socket = null
      this.buffer = Buffer.alloc(0)
      this.finish({ status: 0, body: Buffer.alloc(0) })
    }
    socket.on("error", gone)
    socket.on("close", gone)
    this.socket = socket
  }

  parse() {
    const end = this.buffer.indexOf("\r\n\r\n")
    if (end < 0 || this.pending === null) return
    const head = this.buffer.toString("latin1", 0, end)
    const status = Number(head.slice(9, 12))
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? -1)
    if (length < 0) return this.socket?.destroy()
    if (this.buffer.length < end + 4 + length) return
    const body = this.buffer.subarray(end + 4, end + 4 + length)
    this.buffer = this.buffer.subarray(end + 4 + length)
    if (/\r\nconnection:\s*close/i.test(head)) this.socket?.end()
    this.finish({ status, body })
  }

  finish(result) {
    const pending = this.pending
    this.pending = null
    pending?.(result)
  }

  get(path) {
    return new Promise((resolve) => {
      if (this.socket === null || this.socket.destroyed) this.open()
      const timer = setTimeout(() => this.socket?.destroy(), 15000)
      this.pending = (result) => {
        clearTimeout(timer)
        resolve(result)
      }
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${this.host}\r\n\r\n`)
    })
  }
}

/** One LL-HLS player like hls.js in low-latency mode: blocking reloads (delta updates once it has the whole playlist), then every new part in order. */
const llhlsViewer = (base, stop) => {
  const state = { bytes: 0, latencies: [], errors: 0, reloads: 0 }
  const connection = new Connection(base)
  const root = new URL(base).pathname
  const run = async () => {
    let next = null
    /** The last part fetched, as "msn.part"; the player goes on from there. */
    let last = null
    while (!stop.now) {
      const path = next === null ? `${root}/media.m3u8` : `${root}/media.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.part}&_HLS_skip=YES`
      const playlist = await connection.get(path)
      state.reloads++
      if (playlist.status !== 200) {
        state.errors++
        next = null
        await sleep(200)
        continue
      }
      const text = playlist.body.toString()
      // Each part and when it was captured: the segment's PROGRAM-DATE-TIME plus the parts before it.
      let pdt = 0
      let offset = 0
      const parts = []
      for (const line of text.split("\n")) {
        if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) {
          pdt = Date.parse(line.slice(25))
          offset = 0
        } else if (line.startsWith("#EXT-X-PART:")) {
          const duration = Number(/DURATION=([\d.]+)/.exec(line)?.[1] ?? 0)
          const uri = /URI="([^"]+)"/.exec(line)?.[1]
          const id = /-p(\d+\.\d+)\.m4s/.exec(uri ?? "")?.[1]
          parts.push({ uri, id, start: pdt + offset })
          offset += duration * 1000
        } else if (line.startsWith("#EXTINF:")) {
          // The next segment (the open one has no PROGRAM-DATE-TIME of its own yet) starts where this one ends.
          pdt += Number(line.slice(8).split(",")[0]) * 1000
          offset = 0
        }
      }
      // Joining: the newest part; afterwards every part after the last one fetched.
      const from = last === null ? -1 : parts.findIndex((p) => p.id === last)
      const wanted = from < 0 ? parts.slice(-1) : parts.slice(from + 1)
      for (const part of wanted) {
        const response = await connection.get(`${root}/${part.uri}`)
        if (response.status === 200) {
          state.bytes += response.body.length
          if (last !== null) state.latencies.push(Date.now() - part.start)
          last = part.id
        } else state.errors++
      }
      const hint = /PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+-p(\d+)\.(\d+)\.m4s/.exec(text)
      next = hint === null ? null : { msn: Number(hint[1]), part: Number(hint[2]) }
    }
    connection.socket?.destroy()
  }
  state.done = run()
  return state
}

/** One classic-HLS player against nginx-rtmp: joins at the newest segment, then fetches each new one. */
const classicViewer = (playlistUrl, stop) => {
  const state = { bytes: 0, latencies: [], errors: 0, reloads: 0 }
  const connection = new Connection(playlistUrl)
  const root = new URL(playlistUrl).pathname
  const dir = root.slice(0, root.lastIndexOf("/"))
  const firstSeen = new Map()
  const fetched = new Set()
  const run = async () => {
    let joined = false
    while (!stop.now) {
      const playlist = await connection.get(root)
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
        const segment = await connection.get(`${dir}/${uri}`)
        if (segment.status === 200) {
          state.bytes += segment.body.length
          state.latencies.push(Date.now() - firstSeen.get(uri))
        } else state.errors++
      }
      await sleep((target * 1000) / 2)
    }
    connection.socket?.destroy()
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
