/**
 * LL-HLS with real clients: ffprobe and ffmpeg read the HLS output of an ffmpeg publisher with B-frames
 * (exactly one video and one audio stream, no decoder errors, monotonic timestamps), and the blocking
 * playlist reload answers as the spec says: held until the part exists, 400 for requests too far ahead or
 * a part without a segment number, 503 when the part does not come within three target durations, 404
 * once the stream is gone.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { waitUntil } from "../support/poll.js"
import { ffmpegPublish, run } from "../support/processes.js"
import { startHttpServer } from "../support/server.js"

const status = async (url: string) => (await fetch(url)).status

describe("LL-HLS with real clients", () => {
  it.scopedLive("ffprobe and ffmpeg read it; blocking reloads, 400, 503 and 404 as the spec says", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer()
      const publisher = ffmpegPublish(`rtmp://127.0.0.1:${server.rtmpPort}/live/cam`, 60, ["-bf", "2"])
      yield* Effect.addFinalizer(() => Effect.sync(() => publisher.kill()))
      const base = `${server.base}/live/cam`
      yield* Effect.promise(async () => {
        await waitUntil("the first LL-HLS segment", async () => (await status(`${base}.m3u8`)) === 200, 20_000, 200)
        const multivariant = await (await fetch(`${base}.m3u8`)).text()
        expect(multivariant).toMatch(/CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2",RESOLUTION=320x240/)

        const probe = await run("ffprobe", ["-v", "error", "-show_streams", "-of", "json", `${base}.m3u8`], 30_000)
        const streams = (JSON.parse(probe.stdout) as { streams: Array<{ codec_type: string; codec_name: string }> }).streams
        expect(streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort()).toEqual(["audio:aac", "video:h264"])
        const packets = await run("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries", "packet=dts_time,pts_time", "-of", "csv=p=0", "-read_intervals", "%+3", `${base}/media.m3u8`], 30_000)
        const dts = packets.stdout.trim().split("\n").map((l) => Number(l.split(",")[1]))
        expect(dts.length).toBeGreaterThan(25)
        for (let i = 1; i < dts.length; i++) expect(dts[i] as number).toBeGreaterThan(dts[i - 1] as number)
        expect(packets.stdout.trim().split("\n").some((l) => { const [pts, d] = l.split(",").map(Number); return (pts as number) > (d as number) })).toBe(true) // B-frames
        const decoded = await run("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-i", `${base}.m3u8`, "-t", "3", "-f", "null", "-"], 30_000)
        expect(decoded.code).toBe(0)
        expect(decoded.stderr).toBe("")

        // Blocking reload: ask for the part after the newest one; the answer comes when it is published.
        const playlist = await (await fetch(`${base}/media.m3u8`)).text()
        const hint = /PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+-p(\d+)\.(\d+)\.m4s"/.exec(playlist)
        expect(hint).not.toBeNull()
        const [msn, part] = [Number(hint?.[1]), Number(hint?.[2])]
        const asked = Date.now()
        const blocked = await fetch(`${base}/media.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`)
        expect(blocked.status).toBe(200)
        expect(Date.now() - asked).toBeLessThan(1500)
        expect(await blocked.text()).toMatch(new RegExp(`-p${msn}\\.${part}\\.m4s|-s${msn}\\.m4s`))
        expect(await status(`${base}/media.m3u8?_HLS_part=1`)).toBe(400)
        expect(await status(`${base}/media.m3u8?_HLS_msn=${msn + 5}`)).toBe(400)

        // The publisher freezes: a request for a part that never comes gets 503 after three target durations.
        publisher.process.kill("SIGSTOP")
        const frozen = await (await fetch(`${base}/media.m3u8`)).text()
        const next = /PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+-p(\d+)\.(\d+)\.m4s"/.exec(frozen)
        const waitedFrom = Date.now()
        expect(await status(`${base}/media.m3u8?_HLS_msn=${next?.[1]}&_HLS_part=${Number(next?.[2]) + 1}`)).toBe(503)
        expect(Date.now() - waitedFrom).toBeGreaterThanOrEqual(5500) // 3 × TARGETDURATION (2 s)
        publisher.process.kill("SIGKILL")
        await waitUntil("the playlist to go once the publisher is gone", async () => (await status(`${base}/media.m3u8`)) === 404, 20_000, 250)
      })
    }), 120_000)
})
