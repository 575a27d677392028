/**
 * Enhanced RTMP codecs through LL-HLS. An AV1 stream, published over Enhanced RTMP (v2: ExHeader, FourCC `av01`, SequenceStart with the av1C,
 * CodedFrames with the OBUs of one temporal unit), comes out as LL-HLS that ffprobe reads and hls.js plays
 * in Chromium as it plays H.264: first frame within 2.5 s (packaged on demand: a 1 s GOP and PART-HOLD-BACK),
 * less than 1.5 s behind ingest, no stall. Debian's ffmpeg 5.1 cannot publish AV1 over RTMP, so ffmpeg encodes it into fragmented MP4
 * and our test client publishes the samples in real time. An Opus stream (E-RTMP audio: ExHeader, FourCC
 * `Opus`, SequenceStart with the RFC 7845 OpusHead) comes out as audio-only LL-HLS that ffprobe and ffmpeg read.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { amfObject } from "../../src/protocol/amf0.js"
import { CHROMIUM, launchChromium, playbackOf } from "../support/browser.js"
import { paceFrames, publishAs } from "../support/client.js"
import { encodeFixture, opusHeadFromDops, toTags } from "../support/ertmp-fixtures.js"
import { readFragmentedMp4 } from "../support/mp4-reader.js"
import { waitUntil } from "../support/poll.js"
import { run } from "../support/processes.js"
import { startHttpServer } from "../support/server.js"

const av01 = Buffer.from("av01")

const encodeAv1 = async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "av1-")), "av1.mp4")
  const result = await run(
    "ffmpeg",
    ["-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-c:v", "libsvtav1", "-preset", "12", "-g", "25",
      "-pix_fmt", "yuv420p", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", file],
    120_000
  )
  expect(result.code).toBe(0)
  return readFragmentedMp4(fs.readFileSync(file))
}

describe.runIf(CHROMIUM !== undefined)("Enhanced RTMP codecs → LL-HLS", () => {
  it.scopedLive("ffprobe reads it and hls.js plays it in Chromium", () =>
    Effect.gen(function* () {
      const track = yield* Effect.promise(encodeAv1)
      expect(track.codec).toBe("av01")
      const server = yield* startHttpServer()
      const { client, streamId } = yield* Effect.promise(() => publishAs(server.rtmpPort, "av1"))
      // onMetaData with the FourCC as videocodecid (E-RTMP), then SequenceStart, then the samples in real time, looped.
      client.session.sendMetadata(streamId, amfObject({ width: 320, height: 240, framerate: 25, videocodecid: av01.readUInt32BE(0) }))
      client.session.sendMedia(streamId, 9, 0, Buffer.concat([Buffer.of(0x90), av01, track.config]))
      const frameMs = (track.samples[0]?.duration ?? 512) * (1000 / track.timescale)
      const stop = paceFrames(frameMs, (n) => {
        const sample = track.samples[n % track.samples.length]
        if (sample === undefined) return
        const header = sample.sync ? 0x91 : 0xa1 // ExHeader | key/inter frame | CodedFrames
        client.session.sendMedia(streamId, 9, Math.round(n * frameMs), Buffer.concat([Buffer.of(header), av01, sample.data]))
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => (stop(), client.close())))

      const base = `${server.base}/live/av1`
      yield* Effect.promise(() => waitUntil("the first LL-HLS segment", async () => (await fetch(`${base}.m3u8`)).status === 200, 20_000, 200))
      const multivariant = yield* Effect.promise(async () => (await fetch(`${base}.m3u8`)).text())
      expect(multivariant).toMatch(/CODECS="av01\.0\.\d\d[MH]\.08",RESOLUTION=320x240/)
      const probe = yield* Effect.promise(() => run("ffprobe", ["-v", "error", "-show_streams", "-of", "json", `${base}.m3u8`], 30_000))
      const streams = (JSON.parse(probe.stdout) as { streams: Array<{ codec_type: string; codec_name: string; width: number }> }).streams
      expect(streams.map((s) => `${s.codec_type}:${s.codec_name}:${s.width}`)).toEqual(["video:av1:320"])

      const browser = yield* Effect.acquireRelease(Effect.promise(launchChromium), (b) => Effect.promise(() => b.close()))
      yield* Effect.promise(async () => {
        const page = await browser.newPage()
        await page.goto(`${server.base}/live/av1?transport=hls`, { waitUntil: "domcontentloaded" })
        const state = () => playbackOf(page)
        await waitUntil("60 AV1 frames in Chromium", async () => (await state()).frames > 60, 15_000, 200)
        const first = await state()
        expect(first.errors).toEqual([])
        expect(first.firstFrameAt).toBeLessThan(2500) // as for H.264 in browser.test.ts
        // As for H.264 (browser.test.ts): settled on the live edge, it plays less than 1.5 s behind ingest, without a stall.
        await new Promise((r) => setTimeout(r, 4000))
        const settled = await state()
        await new Promise((r) => setTimeout(r, 10_000))
        const later = await state()
        console.log(`AV1 LL-HLS: first frame ${Math.round(first.firstFrameAt ?? -1)} ms after navigation, ${settled.behindLiveMs} → ${later.behindLiveMs} ms behind ingest, ${later.stalls} stalls`)
        expect(settled.behindLiveMs).not.toBeNull()
        expect(settled.behindLiveMs as number).toBeLessThan(1500)
        expect(later.behindLiveMs as number).toBeLessThan(1500)
        expect(later.stalls, `stalls: ${JSON.stringify(later.stallLog)}`).toBe(0)
        expect(later.currentTime - settled.currentTime).toBeGreaterThan(9)
        expect(later.errors).toEqual([])
      })
    }), 120_000)

  it.scopedLive("Opus over Enhanced RTMP: audio-only LL-HLS that ffprobe and ffmpeg read", () =>
    Effect.gen(function* () {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "opus-")), "opus.mp4")
      const encoded = yield* Effect.promise(() =>
        run("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4", "-ac", "2", "-c:a", "libopus", "-b:a", "64k",
          "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", file], 60_000)
      )
      expect(encoded.code).toBe(0)
      const track = readFragmentedMp4(fs.readFileSync(file), 28) // AudioSampleEntry fields before dOps
      expect(track.codec).toBe("Opus")
      const head = opusHeadFromDops(track.config) // the OpusHead E-RTMP carries
      const opus = Buffer.from("Opus")
      const server = yield* startHttpServer()
      const { client, streamId } = yield* Effect.promise(() => publishAs(server.rtmpPort, "opus"))
      client.session.sendMedia(streamId, 8, 0, Buffer.concat([Buffer.of(0x90), opus, head])) // ExHeader audio, SequenceStart
      const frameMs = (track.samples[0]?.duration ?? 960) * (1000 / track.timescale)
      const stop = paceFrames(frameMs, (n) => {
        const sample = track.samples[n % track.samples.length]
        if (sample === undefined) return
        client.session.sendMedia(streamId, 8, Math.round(n * frameMs), Buffer.concat([Buffer.of(0x91), opus, sample.data])) // CodedFrames
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => (stop(), client.close())))
      const base = `${server.base}/live/opus`
      yield* Effect.promise(() => waitUntil("the first LL-HLS segment", async () => (await fetch(`${base}.m3u8`)).status === 200, 20_000, 200))
      expect(yield* Effect.promise(async () => (await fetch(`${base}.m3u8`)).text())).toContain('CODECS="opus"')
      const probe = yield* Effect.promise(() => run("ffprobe", ["-v", "error", "-show_streams", "-of", "json", `${base}.m3u8`], 30_000))
      const streams = (JSON.parse(probe.stdout) as { streams: Array<{ codec_type: string; codec_name: string; channels: number; sample_rate: string }> }).streams
      expect(streams.map((s) => `${s.codec_type}:${s.codec_name}:${s.channels}:${s.sample_rate}`)).toEqual(["audio:opus:2:48000"])
      const decoded = yield* Effect.promise(() => run("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-i", `${base}.m3u8`, "-t", "2", "-f", "null", "-"], 30_000))
      expect(decoded.code).toBe(0)
      expect(decoded.stderr).toBe("")
    }), 60_000)
})

describe("Enhanced RTMP HEVC and VP9 → LL-HLS (ffprobe)", () => {
  for (const { codec, ffprobeName, codecs } of [
    { codec: "hevc" as const, ffprobeName: "hevc", codecs: /CODECS="hvc1\.1\.6\.L\d+(\.[0-9a-f]+)*"/ },
    { codec: "vp9" as const, ffprobeName: "vp9", codecs: /CODECS="vp09\.00\.\d\d\.08"/ }
  ]) {
    it.scopedLive(`${codec}: the multivariant playlist names it from its configuration record; ffprobe reads the fMP4 segments`, () =>
      Effect.gen(function* () {
        const fixture = yield* Effect.promise(() => encodeFixture(codec, 5))
        // The whole fixture is sent at once and nothing after it: packaged from publish, as no request could
        // start it later (an on-demand start waits for a keyframe that would never come).
        const server = yield* startHttpServer({ hlsOnDemand: false })
        const { client, streamId } = yield* Effect.promise(() => publishAs(server.rtmpPort, codec))
        yield* Effect.addFinalizer(() => Effect.sync(() => client.close()))
        client.session.sendMetadata(streamId, amfObject({ width: 160, height: 120, framerate: 25 }))
        for (const tag of toTags(fixture)) client.session.sendMedia(streamId, tag.typeId, tag.timestamp, tag.payload)
        const base = `${server.base}/live/${codec}`
        yield* Effect.promise(() => waitUntil("the first LL-HLS segment", async () => (await fetch(`${base}.m3u8`)).status === 200, 20_000, 200))
        const multivariant = yield* Effect.promise(async () => (await fetch(`${base}.m3u8`)).text())
        expect(multivariant).toMatch(codecs)
        const probe = yield* Effect.promise(() => run("ffprobe", ["-v", "error", "-show_streams", "-of", "json", `${base}.m3u8`], 30_000))
        const streams = (JSON.parse(probe.stdout) as { streams: Array<{ codec_type: string; codec_name: string; width: number }> }).streams
        expect(streams.map((s) => `${s.codec_type}:${s.codec_name}:${s.width}`)).toEqual([`video:${ffprobeName}:160`])
      }), 120_000)
  }
})
