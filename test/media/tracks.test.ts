/**
 * Tracks in the stream core: classification of legacy and E-RTMP messages, multitrack batches split per
 * track, keyframes found in the bitstream when a writer sends frame type 0, per-track decoder
 * configurations and GOP start, and each viewer's filter from its connect capabilities.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { amfObject } from "../../src/protocol/amf0.js"
import { type MediaFrame } from "../../src/media/frame.js"
import { LiveStream } from "../../src/media/stream.js"
import { audioParts, legacyFrame, TrackFilter, videoParts } from "../../src/media/tracks.js"
import { flacStreamInfo } from "../../src/media/codecs.js"
import { type Sink, Viewer } from "../../src/media/viewer.js"
import { readPeerCapabilities } from "../../src/rtmp/capabilities.js"

const b = (...parts: Array<string | ReadonlyArray<number>>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p))))

const HEVC_IDR = [0, 0, 0, 3, 19 << 1, 1, 0xaa] // IDR_N_LP
const HEVC_TRAIL = [0, 0, 0, 3, 1 << 1, 1, 0xbb]

describe("track parts", () => {
  it("legacy AVC/AAC are track 0 with FourCC names; E-RTMP carries its FourCC", () => {
    expect(videoParts(Buffer.from([0x17, 0x01, 0, 0, 0, 0xaa]))[0]).toMatchObject({ track: 0, codec: "avc1", enhanced: false, keyframe: true })
    expect(audioParts(Buffer.from([0xaf, 0x00, 0x12, 0x10]))[0]).toMatchObject({ track: 0, codec: "mp4a", enhanced: false, sequenceHeader: true })
    expect(videoParts(b([0x90], "hvc1", [1, 2, 3]))[0]).toMatchObject({ track: 0, codec: "hvc1", enhanced: true, sequenceHeader: true })
    expect(audioParts(b([0x95, 0x01], "mp4a", [0x02], [0x21]))[0]).toMatchObject({ track: 2, codec: "mp4a", enhanced: true })
  })

  it("a ManyTracksManyCodecs batch becomes one OneTrack frame per track", () => {
    const parts = videoParts(b([0x96, 0x21], "avc1", [0x00], [0, 0, 4], [0, 0, 0, 9], "hvc1", [0x01], [0, 0, 3 + HEVC_IDR.length], [0, 0, 0], HEVC_IDR))
    expect(parts.map((p) => [p.track, p.codec, p.keyframe])).toEqual([
      [0, "avc1", true],
      [1, "hvc1", true]
    ])
    expect(parts[1]?.payload).toEqual(b([0x96, 0x01], "hvc1", [0x01], [0, 0, 0], HEVC_IDR))
  })

  it("frame type 0 (MediaMTX's writer): keyframes come from the bitstream — HEVC IRAP, AV1 sequence header, VP9 frame type", () => {
    expect(videoParts(b([0x83], "hvc1", HEVC_IDR))[0]?.keyframe).toBe(true)
    expect(videoParts(b([0x83], "hvc1", HEVC_TRAIL))[0]?.keyframe).toBe(false)
    expect(videoParts(b([0x81], "av01", [0x0a, 0x01, 0x00, 0x32, 0x01, 0x00]))[0]?.keyframe).toBe(true) // sequence header OBU, then a frame OBU
    expect(videoParts(b([0x81], "av01", [0x32, 0x01, 0x00]))[0]?.keyframe).toBe(false)
    expect(videoParts(b([0x81], "vp09", [0x82, 0x49, 0x83]))[0]?.keyframe).toBe(true) // marker 2, profile 0, show_existing 0, frame_type 0
    expect(videoParts(b([0x81], "vp09", [0x86, 0x00]))[0]?.keyframe).toBe(false) // frame_type 1
  })

  it("malformed E-RTMP is passed on as opaque bytes: no keyframe, no configuration, no throw", () => {
    expect(videoParts(Buffer.from([0x96, 0x31, 0x68]))).toEqual([{ payload: Buffer.from([0x96, 0x31, 0x68]), track: 0, codec: "", enhanced: true, keyframe: false, sequenceHeader: false }])
  })

  it("legacyFrame (the stream core's per-message path) states what the one part of videoParts/audioParts states; E-RTMP and empty messages are left to those", () => {
    fc.assert(
      fc.property(fc.constantFrom(8, 9), fc.uint8Array({ maxLength: 8 }), (typeId, bytes) => {
        const payload = Buffer.from(bytes)
        const frame = legacyFrame(typeId, 40, payload)
        const parts = typeId === 9 ? videoParts(payload) : audioParts(payload)
        const first = bytes[0]
        const enhanced = first !== undefined && (typeId === 9 ? (first & 0x80) !== 0 : first >> 4 === 9)
        if (first === undefined || enhanced) {
          expect(frame).toBeUndefined()
          return
        }
        expect(parts).toHaveLength(1)
        const [part] = parts
        expect(frame).toMatchObject({ typeId, timestamp: 40, payload, track: part?.track, codec: part?.codec, enhanced: false, keyframe: part?.keyframe, sequenceHeader: part?.sequenceHeader })
      })
    )
    expect(legacyFrame(9, 0, Buffer.from([0x17, 0x00, 0, 0, 0]))).toMatchObject({ codec: "avc1", keyframe: false, sequenceHeader: true })
    expect(legacyFrame(9, 0, Buffer.from([0x22, 0x00]))).toMatchObject({ codec: "legacy-2", keyframe: false, sequenceHeader: false })
    expect(legacyFrame(8, 0, Buffer.from([0x2f, 0xff]))).toMatchObject({ codec: ".mp3", sequenceHeader: false })
  })
})

describe("connect capabilities", () => {
  it("reads fourCcList, the info maps (preferred, '*' overrides) and capsEx; nothing declared is legacy", () => {
    const legacy = readPeerCapabilities(amfObject({ app: "live" }))
    expect(legacy.enhanced).toBe(false)
    expect(legacy.filter.accepts(9, 0, "avc1", false)).toBe(true)
    expect(legacy.filter.accepts(9, 0, "hvc1", true)).toBe(false)
    const listed = readPeerCapabilities(amfObject({ fourCcList: ["hvc1", "Opus"], capsEx: 2 }))
    expect([listed.filter.accepts(9, 0, "hvc1", true), listed.filter.accepts(9, 0, "av01", true), listed.filter.accepts(8, 0, "Opus", true), listed.filter.accepts(9, 1, "hvc1", true)]).toEqual([true, false, true, true])
    const mapped = readPeerCapabilities(amfObject({ fourCcList: ["hvc1"], videoFourCcInfoMap: amfObject({ av01: 1, hvc1: 2 }) }))
    expect([mapped.filter.accepts(9, 0, "av01", true), mapped.filter.accepts(9, 0, "hvc1", true), mapped.filter.accepts(9, 1, "av01", true)]).toEqual([true, false, false])
    const any = readPeerCapabilities(amfObject({ videoFourCcInfoMap: amfObject({ "*": 4 }), audioFourCcInfoMap: amfObject({ "*": 4 }) }))
    expect(any.filter.accepts(9, 0, "vvc1", true)).toBe(true)
  })

  it("a push allowlist (#codecs=h264,aac) refuses other codecs even in legacy framing", () => {
    const only = TrackFilter.only(["h264", "aac"], true)
    expect([only.accepts(9, 0, "avc1", false), only.accepts(8, 0, "mp4a", false), only.accepts(9, 0, "hvc1", false), only.accepts(9, 0, "hvc1", true)]).toEqual([true, true, false, false])
  })
})

class RecordingSink implements Sink {
  readonly protocol = "test"
  readonly frames: Array<MediaFrame> = []
  write(frame: MediaFrame): void {
    this.frames.push(frame)
  }
  queuedBytes(): number {
    return 0
  }
  close(): void {}
}

describe("the stream core per track", () => {
  const limits = { softBytes: 1e6, hardBytes: 1e7, maxLagMillis: 60_000 }
  const AVC_HEADER = Buffer.from([0x17, 0x00, 0, 0, 0, 1])
  const HEVC_T1_HEADER = b([0x96, 0x00], "hvc1", [0x01], [1, 2, 3])
  const AAC_HEADER = Buffer.from([0xaf, 0x00, 0x12, 0x10])

  const publish = (stream: LiveStream) => {
    stream.publishMedia(9, 0, AVC_HEADER)
    stream.publishMedia(9, 0, HEVC_T1_HEADER)
    stream.publishMedia(8, 0, AAC_HEADER)
    for (let n = 0; n < 6; n++) {
      stream.publishMedia(9, n * 40, Buffer.from([n % 3 === 0 ? 0x17 : 0x27, 1, 0, 0, 0, n]))
      stream.publishMedia(9, n * 40 + 1, b([0x80 | ((n % 3 === 0 ? 1 : 2) << 4) | 6, 0x03], "hvc1", [0x01], n % 3 === 0 ? HEVC_IDR : HEVC_TRAIL))
      stream.publishMedia(8, n * 40, Buffer.from([0xaf, 1, n]))
    }
  }

  it("keeps decoder configurations per track; the GOP starts at track 0's keyframe; each viewer gets what it declared", () => {
    const stream = new LiveStream("live", "multi", { enabled: true, maxFrames: 100, maxBytes: 1e6 })
    stream.startPublishing({ connectionId: "p" })
    publish(stream)
    expect([...stream.videoHeaders.keys()]).toEqual([0, 1])
    expect(stream.gop[0]?.track).toBe(0)
    expect(stream.gop[0]?.keyframe).toBe(true)

    const join = (filter: TrackFilter | undefined) => {
      const sink = new RecordingSink()
      const viewer = new Viewer(sink, limits)
      viewer.filter = filter
      stream.players.add(viewer)
      viewer.start(stream)
      return sink
    }
    const legacy = join(TrackFilter.legacy)
    const multitrack = join(readPeerCapabilities(amfObject({ fourCcList: ["avc1", "hvc1", "mp4a"], capsEx: 2 })).filter)
    const noMultitrack = join(readPeerCapabilities(amfObject({ fourCcList: ["avc1", "hvc1", "mp4a"] })).filter)
    expect(legacy.frames.some((f) => f.track !== 0 || f.enhanced)).toBe(false)
    expect(legacy.frames.filter((f) => f.sequenceHeader).map((f) => f.codec)).toEqual(["avc1", "mp4a"])
    expect(multitrack.frames.filter((f) => f.sequenceHeader).map((f) => `${f.codec}:${f.track}`)).toEqual(["avc1:0", "hvc1:1", "mp4a:0"])
    // Track 1 starts at its own keyframe.
    expect(multitrack.frames.find((f) => f.track === 1 && !f.sequenceHeader)?.keyframe).toBe(true)
    expect(noMultitrack.frames.some((f) => f.track === 1)).toBe(false)
  })

  it("a legacy viewer of an HEVC + AAC stream gets the AAC (it does not wait for a keyframe it cannot take)", () => {
    const stream = new LiveStream("live", "hevc", { enabled: true, maxFrames: 100, maxBytes: 1e6 })
    stream.startPublishing({ connectionId: "p" })
    const sink = new RecordingSink()
    const viewer = new Viewer(sink, limits)
    viewer.filter = TrackFilter.legacy
    stream.players.add(viewer)
    viewer.start(stream)
    stream.publishMedia(9, 0, b([0x90], "hvc1", [1, 2, 3]))
    stream.publishMedia(8, 0, AAC_HEADER)
    stream.publishMedia(9, 0, b([0x93], "hvc1", HEVC_IDR))
    stream.publishMedia(8, 20, Buffer.from([0xaf, 1, 7]))
    expect(sink.frames.map((f) => `${f.typeId}:${f.codec}:${f.sequenceHeader ? "h" : "f"}`)).toEqual(["8:mp4a:h", "8:mp4a:f"])
  })
})

describe("FLAC STREAMINFO", () => {
  // 48 kHz, stereo, 16 bits, 96 000 samples: sample rate 0x0BB80 (20 bits), channels−1 = 1, bps−1 = 15.
  const streamInfo = Buffer.from([
    0x10, 0x00, 0x10, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x1f, 0x40,
    0x0b, 0xb8, 0x02, 0xf0, 0x00, 0x01, 0x77, 0x00,
    ...Array.from({ length: 16 }, () => 0xaa)
  ])
  it("reads the bare STREAMINFO ffmpeg writes and the spec's \"fLaC\" + metadata block", () => {
    const expected = { sampleRate: 48000, channels: 2, bitsPerSample: 16, totalSamples: 96000 }
    expect(flacStreamInfo(streamInfo)).toEqual(expected)
    expect(flacStreamInfo(Buffer.concat([Buffer.from("fLaC"), Buffer.from([0x80, 0, 0, 34]), streamInfo]))).toEqual(expected)
    expect(flacStreamInfo(Buffer.concat([Buffer.from("fLaC"), Buffer.from([0x84, 0, 0, 34]), streamInfo]))).toBeUndefined()
    expect(flacStreamInfo(Buffer.alloc(10))).toBeUndefined()
  })
})
