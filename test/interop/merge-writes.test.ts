/**
 * `--merge-writes`: viewers' writes held for a window and sent as one. Real players must not notice
 * (ffmpeg decodes RTMP and HTTP-FLV without errors), and the bytes must really arrive in fewer, larger
 * pieces: a raw HTTP-FLV reader counts its reads per second of media. What a window holds is not taken for
 * a slow reader's backlog, even above the soft queue limit.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as net from "node:net"
import { httpGet } from "../support/http.js"
import { readFlv } from "../support/flv.js"
import { waitUntil } from "../support/poll.js"
import { decodedFrames, decoderErrors, FPS, ffmpegPlay, ffmpegPublish } from "../support/processes.js"
import { startHttpServer } from "../support/server.js"

/** Reads `path` over HTTP until its media timestamps span `mediaMillis`; how many reads that took. */
const readsFor = (port: number, path: string, mediaMillis: number) =>
  new Promise<{ reads: number; span: number }>((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const chunks: Array<Buffer> = []
    let reads = 0
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no ${mediaMillis} ms of media within 20 s (${reads} reads)`))
    }, 20_000)
    socket.on("connect", () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`))
    socket.on("error", reject)
    socket.on("data", (data: Buffer) => {
      reads++
      chunks.push(data)
      const all = Buffer.concat(chunks)
      const body = all.indexOf("\r\n\r\n")
      if (body < 0 || all.length < body + 4 + 13) return // the FLV header and first tag size are not here yet
      const tags = readFlv(all.subarray(body + 4)).filter((t) => t.type === 8 || t.type === 9)
      const first = tags[0]
      const last = tags[tags.length - 1]
      if (first === undefined || last === undefined) return
      const span = last.timestamp - first.timestamp
      if (span >= mediaMillis) {
        clearTimeout(timer)
        socket.destroy()
        resolve({ reads, span })
      }
    })
  })

describe("--merge-writes with real players", () => {
  it.scopedLive("ffmpeg decodes RTMP and HTTP-FLV without errors, and a viewer's bytes arrive at most once per window", () =>
    Effect.gen(function* () {
      // A soft queue limit below what one window holds: held bytes must not count as a slow reader's backlog.
      const server = yield* startHttpServer({ mergeWrites: Duration.millis(100), playerQueueSoftBytes: 4096 })
      const publisher = ffmpegPublish(`rtmp://127.0.0.1:${server.rtmpPort}/live/merged`, 40)
      yield* Effect.addFinalizer(() => Effect.sync(() => publisher.kill()))
      const flvUrl = `${server.base}/live/merged.flv`
      yield* Effect.promise(async () => {
        await waitUntil(`${flvUrl} to serve media`, async () => (await httpGet(flvUrl, 300)).body.length > 1000, 20_000, 200)
        const seconds = 4
        const [rtmp, flv, counted] = await Promise.all([
          ffmpegPlay(`rtmp://127.0.0.1:${server.rtmpPort}/live/merged`, 30_000, { output: ["-t", String(seconds)] }).done,
          ffmpegPlay(flvUrl, 30_000, { output: ["-t", String(seconds)] }).done,
          readsFor(server.httpPort, "/live/merged.flv", 4000)
        ])
        for (const played of [rtmp, flv]) {
          expect(played.code).toBe(0)
          expect(decodedFrames(played.stdout)).toBeGreaterThanOrEqual(Math.floor(0.95 * seconds * FPS))
          expect(decoderErrors(played.stderr)).toEqual([])
        }
        // Sent at once, 4 s of media (25 video and ~43 audio frames a second) arrived in 165 reads here;
        // merged over 100 ms, in 33 (the GOP burst included). A slow reader only merges more.
        expect(counted.reads, `${counted.reads} reads for ${counted.span} ms of media`).toBeLessThan(100)
      })
    }), 90_000)
})
