// HTTP-FLV and WS-FLV fan-out: one real-time ffmpeg publisher (the shared sample, looped), N in-process
// sink viewers (HTTP/1.1 GET, or a WebSocket on the same path; bytes counted, never parsed or copied),
// server CPU over the hold window from /proc, like ../shared/bench/fanout.sh does for RTMP. Used by
// run.mjs; prints nothing itself.
//
// A viewer "kept up" when it received ≥ 0.9 × the stream's rate during the hold. First byte = request sent
// → first body byte (the FLV header, at once when the stream is live: both servers send it immediately).
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import WebSocket from "ws"
import { costFigures, holdWindow, percentile, sleep } from "./measure.mjs"


/**
 * Opens `count` viewers of `url` (http://… a GET, ws://… a WebSocket), `perTick` at a time; each records its
 * first-byte time and bytes.
 */
const openViewers = async (url, count, perTick = 50) => {
  const websocket = url.startsWith("ws:")
  const agent = websocket ? undefined : new http.Agent({ keepAlive: false, maxSockets: Infinity })
  const viewers = []
  for (let i = 0; i < count; i++) {
    const viewer = { bytes: 0, firstByteMs: null, closed: false, request: null }
    const sentAt = performance.now()
    const received = (chunk) => {
      if (viewer.firstByteMs === null) viewer.firstByteMs = performance.now() - sentAt
      viewer.bytes += chunk.length
    }
    const closed = () => (viewer.closed = true)
    if (websocket) {
      const ws = new WebSocket(url, { perMessageDeflate: false })
      ws.on("message", received)
      ws.on("close", closed)
      ws.on("error", closed)
      viewer.request = { destroy: () => ws.terminate() }
    } else {
      viewer.request = http.get(url, { agent }, (response) => {
        response.on("data", received)
        response.on("close", closed)
      })
      viewer.request.on("error", closed)
    }
    viewers.push(viewer)
    if (i % perTick === perTick - 1) await sleep(10)
  }
  return viewers
}

/**
 * One measurement: `server` is { pid, httpPort, rtmpPort }, `cpuSeconds(pid)` reads a process tree's CPU.
 * Returns one JSON-able result.
 */
export const httpFlvFanout = async ({ server, sample, viewers: count, hold, settle = 4, websocket = false }) => {
  const bytesPerSecond = fs.statSync(sample).size / 30
  const publisher = spawn("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", sample, "-c", "copy", "-f", "flv", `rtmp://127.0.0.1:${server.rtmpPort}/live/bench`], {
    stdio: "ignore"
  })
  try {
    await sleep(2500) // the publisher is live and the GOP cache (if any) is full
    const url = `${websocket ? "ws" : "http"}://127.0.0.1:${server.httpPort}/live/bench.flv`
    const viewers = await openViewers(url, count)
    const deadline = Date.now() + 20000
    while (Date.now() < deadline && viewers.some((v) => v.firstByteMs === null && !v.closed)) await sleep(100)
    await sleep(settle * 1000)
    const before = viewers.map((v) => v.bytes)
    const window = await holdWindow(server.pid, hold)
    const received = viewers.map((v, i) => v.bytes - before[i])
    const keptUp = received.filter((b, i) => !viewers[i].closed && b >= 0.9 * bytesPerSecond * window.seconds).length
    const firstBytes = viewers.map((v) => v.firstByteMs).filter((x) => x !== null)
    viewers.forEach((v) => v.request.destroy())
    return {
      viewers: count,
      kept_up: keptUp,
      ...costFigures(window, received.reduce((a, b) => a + b, 0)),
      first_byte_ms_p50: percentile(firstBytes, 50),
      first_byte_ms_p95: percentile(firstBytes, 95),
      publisher_alive: publisher.exitCode === null
    }
  } finally {
    publisher.kill("SIGKILL")
  }
}
