/**
 * The fMP4 muxer checked by an independent parser: ffmpeg makes real H.264 (with B-frames, so negative
 * composition offsets are exercised relative to DTS) + AAC in FLV; our muxer turns its tags into an init
 * segment and fragments; ffprobe reads the result back: codecs, frame count, keyframes, monotonic PTS
 * order after reordering, duration.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { inspectAudio, inspectVideo } from "../../src/protocol/flv.js"
import { MediaFrame } from "../../src/media/frame.js"
import { Fmp4Muxer } from "../../src/media/fmp4-muxer.js"
import { readFlv } from "../support/flv.js"
import { run } from "../support/processes.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fmp4-"))

/** An FLV made by ffmpeg: `seconds` of testsrc at 25 fps, GOP 25, H.264 with B-frames, AAC stereo 48 kHz. */
const makeFlv = async (seconds: number) => {
  const out = path.join(dir, "in.flv")
  const result = await run(
    "ffmpeg",
    ["-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
      "-t", String(seconds), "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-bf", "2", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", "-f", "flv", out],
    60_000
  )
  expect(result.code).toBe(0)
  return readFlv(fs.readFileSync(out))
}

const toFrame = (tag: { type: number; timestamp: number; data: Buffer }) => {
  const video = tag.type === 9 ? inspectVideo(tag.data) : undefined
  const audio = tag.type === 8 ? inspectAudio(tag.data) : undefined
  return new MediaFrame(tag.type, tag.timestamp, tag.data, video?.keyframe ?? false, video?.sequenceHeader ?? audio?.sequenceHeader ?? false)
}

describe("fMP4 muxer, read back by ffprobe", () => {
  it("H.264 with B-frames + AAC: codecs, every frame, keyframes every second, duration", async () => {
    const tags = await makeFlv(4)
    const muxer = new Fmp4Muxer()
    const chunks: Array<Uint8Array> = []
    let init: Uint8Array | undefined
    let n = 0
    for (const tag of tags.filter((t) => t.type === 8 || t.type === 9)) {
      muxer.push(toFrame(tag))
      if (init === undefined && muxer.video !== undefined && muxer.audio !== undefined) init = muxer.init()
      if (++n % 12 === 0) {
        const part = muxer.flush()
        if (part !== undefined) chunks.push(part)
      }
    }
    const last = muxer.flush()
    if (last !== undefined) chunks.push(last)
    expect(init).toBeDefined()
    expect(muxer.codecs()).toMatch(/^avc1\.64[0-9a-f]{4},mp4a\.40\.2$/)
    expect(muxer.video).toMatchObject({ width: 320, height: 240 })
    const file = path.join(dir, "out.mp4")
    fs.writeFileSync(file, Buffer.concat([init as Uint8Array, ...chunks]))

    const streams = await run("ffprobe", ["-v", "error", "-show_streams", "-of", "json", file], 30_000)
    const parsed = JSON.parse(streams.stdout) as { streams: Array<{ codec_type: string; codec_name: string; width?: number; sample_rate?: string; channels?: number }> }
    expect(parsed.streams.map((s) => `${s.codec_type}:${s.codec_name}`)).toEqual(["video:h264", "audio:aac"])
    expect(parsed.streams[0]).toMatchObject({ width: 320 })
    expect(parsed.streams[1]).toMatchObject({ sample_rate: "48000", channels: 2 })

    const frames = await run("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time,dts_time,flags", "-of", "csv=p=0", file], 30_000)
    expect(frames.stderr).toBe("")
    const packets = frames.stdout.trim().split("\n").map((l) => l.split(","))
    expect(packets.length).toBe(99) // 100 frames; the last one's duration is unknown until a next one comes
    const keyframes = packets.filter((p) => p[2]?.startsWith("K")).map((p) => Number(p[0]))
    // x264 delays presentation by two B-frames (CTS 80 ms); there is no edit list, so PTS starts at 0.08.
    expect(keyframes.slice(0, 4).map((t) => Math.round((t - (keyframes[0] as number)) * 1000))).toEqual([0, 1000, 2000, 3000])
    const pts = packets.map((p) => Number(p[0])).sort((a, b) => a - b)
    // Presentation order is gapless but for the held-back last sample (a frame that presents earlier than it decodes).
    const gaps = pts.slice(1).map((t, i) => Math.round((t - (pts[i] as number)) * 1000))
    expect(gaps.filter((g) => g === 40).length).toBeGreaterThanOrEqual(97)
    expect(gaps.every((g) => g === 40 || g === 80)).toBe(true)
    expect(packets.some((p) => Number(p[0]) > Number(p[1]))).toBe(true) // B-frames: PTS after DTS

    const decoded = await run("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-i", file, "-f", "null", "-"], 30_000)
    expect(decoded.code).toBe(0)
    expect(decoded.stderr).toBe("")
  }, 60_000)
})
