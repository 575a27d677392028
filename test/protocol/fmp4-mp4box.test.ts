/**
 * Our fMP4 read back by an independent parser (mp4box, in tests only): codecs, timescales, sample counts,
 * sync flags and signed composition offsets of an init segment plus fragments from the muxer.
 */
import { describe, expect, it } from "@effect/vitest"
import { createFile, MP4BoxBuffer } from "mp4box"
import { Fmp4Muxer } from "../../src/media/fmp4-muxer.js"
import { MediaFrame } from "../../src/media/frame.js"
import { hex } from "../support/hex.js"

const AVC_HEADER = Buffer.concat([hex("17 00 00 00 00"), hex("01 64 00 0d ff e1 00 19 67 64 00 0d ac d9 41 41 fb 01 10 00 00 03 00 10 00 00 03 03 20 f1 42 99 60 01 00 06 68 eb e3 cb 22 c0")])

/** 50 video frames at 25 fps (a keyframe every 25, composition offsets +80/−40 ms like B-frame reordering) and AAC. */
const muxed = () => {
  const muxer = new Fmp4Muxer()
  muxer.push(new MediaFrame(9, 0, AVC_HEADER, false, true))
  muxer.push(new MediaFrame(8, 0, hex("af 00 12 10"), false, true))
  const chunks: Array<Uint8Array> = []
  for (let n = 0; n < 50; n++) {
    const cts = n % 3 === 0 ? 80 : -40
    const payload = Buffer.concat([Buffer.of(n % 25 === 0 ? 0x17 : 0x27, 1, (cts >> 16) & 0xff, (cts >> 8) & 0xff, cts & 0xff), Buffer.alloc(100, n)])
    muxer.push(new MediaFrame(9, n * 40, payload, n % 25 === 0, false))
    muxer.push(new MediaFrame(8, Math.round(n * 40 * 0.99), hex("af 01 21 10 04 60 8c 1c"), false, false))
    if (n % 10 === 9) chunks.push(muxer.flush() ?? new Uint8Array(0))
  }
  return Buffer.concat([muxer.init() ?? new Uint8Array(0), ...chunks])
}

describe("fMP4 read back by mp4box", () => {
  it("tracks, timescales, sample counts, sync samples and signed composition offsets", async () => {
    const bytes = muxed()
    const file = createFile()
    const samples = new Map<number, Array<{ is_sync: boolean; cts: number; dts: number }>>()
    const ready = new Promise<{ tracks: Array<{ id: number; codec: string; timescale: number }> }>((resolve) => {
      file.onReady = (info) => {
        // mp4box's own usage: ask for samples when the movie is known, then start; fragments follow.
        file.setExtractionOptions(1, undefined, { nbSamples: 1000 })
        file.setExtractionOptions(2, undefined, { nbSamples: 1000 })
        file.start()
        resolve(info as unknown as { tracks: Array<{ id: number; codec: string; timescale: number }> })
      }
    })
    file.onSamples = (id, _user, list) => {
      const seen = samples.get(id) ?? []
      seen.push(...list.map((s) => ({ is_sync: s.is_sync, cts: s.cts, dts: s.dts })))
      samples.set(id, seen)
    }
    const buffer = MP4BoxBuffer.fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), 0)
    file.appendBuffer(buffer)
    const info = await ready
    expect(info.tracks.map((t) => [t.id, t.codec, t.timescale])).toEqual([
      [1, "avc1.64000d", 90000],
      [2, "mp4a.40.2", 44100]
    ])
    file.flush()
    const video = samples.get(1) ?? []
    expect(video).toHaveLength(49) // the last frame waits for a successor to know its duration
    expect(video.filter((s) => s.is_sync).map((s) => s.dts / 90)).toEqual([0, 1000])
    expect(video.slice(0, 3).map((s) => (s.cts - s.dts) / 90)).toEqual([80, -40, -40]) // signed offsets kept
    expect((samples.get(2) ?? []).length).toBe(49)
    expect((samples.get(2) ?? []).every((s) => s.is_sync)).toBe(true)
  })
})
