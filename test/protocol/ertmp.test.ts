/**
 * E-RTMP v2 grammar: reference byte strings built from the spec's tables (enhanced-rtmp-v2.md) and the
 * layouts OBS and ffmpeg write, then fast-check round trips over every layout.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  AvMultitrackType,
  encodeExAudio,
  encodeExVideo,
  type ExAudioTag,
  type ExVideoTag,
  parseExAudio,
  parseExVideo,
  splitVideoTracks,
  timestampOffsetNanos
} from "../../src/protocol/ertmp.js"
import { ErtmpError } from "../../src/protocol/errors.js"

const b = (...parts: Array<string | ReadonlyArray<number> | Uint8Array>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p))))

const hvcC = Buffer.from([0x01, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0])
const nalus = Buffer.from([0, 0, 0, 3, 0x26, 0x01, 0xaf])

describe("E-RTMP v2 video tags", () => {
  it("single track: SequenceStart, CodedFramesX, CodedFrames with a negative CTS, AV1 coded frames", () => {
    const start = parseExVideo(b([0x90], "hvc1", hvcC))
    expect(start).toMatchObject({ frameType: 1, packetType: 0, multitrack: undefined, command: undefined })
    expect(start.tracks).toEqual([{ fourCc: "hvc1", trackId: 0, compositionTime: 0, data: hvcC }])

    expect(parseExVideo(b([0x93], "hvc1", nalus)).tracks[0]).toEqual({ fourCc: "hvc1", trackId: 0, compositionTime: 0, data: nalus })
    const inter = parseExVideo(b([0xa1], "hvc1", [0xff, 0xff, 0xd8], nalus)) // CTS −40 ms
    expect(inter.frameType).toBe(2)
    expect(inter.tracks[0]).toEqual({ fourCc: "hvc1", trackId: 0, compositionTime: -40, data: nalus })
    // av01 CodedFrames carry no composition offset
    expect(parseExVideo(b([0x91], "av01", [0x12, 0x00, 0x0a])).tracks[0]).toEqual({ fourCc: "av01", trackId: 0, compositionTime: 0, data: Buffer.from([0x12, 0, 0x0a]) })
  })

  it("multitrack: OneTrack (OBS's track 1), ManyTracks and ManyTracksManyCodecs with sizeOfTrack", () => {
    const one = b([0x96, 0x01], "hvc1", [0x01], [0, 0, 0x28], nalus)
    expect(parseExVideo(one)).toMatchObject({ frameType: 1, packetType: 1, multitrack: AvMultitrackType.OneTrack })
    expect(parseExVideo(one).tracks).toEqual([{ fourCc: "hvc1", trackId: 1, compositionTime: 40, data: nalus }])

    const many = b([0x96, 0x11], "hvc1", [0x00], [0, 0, 3 + nalus.length], [0, 0, 0], nalus, [0x01], [0, 0, 3 + 2], [0, 0, 0], [0xaa, 0xbb])
    expect(parseExVideo(many).tracks).toEqual([
      { fourCc: "hvc1", trackId: 0, compositionTime: 0, data: nalus },
      { fourCc: "hvc1", trackId: 1, compositionTime: 0, data: Buffer.from([0xaa, 0xbb]) }
    ])
    const manyCodecs = b([0x96, 0x23], "avc1", [0x00], [0, 0, 2], [0x01, 0x02], "hvc1", [0x01], [0, 0, 1], [0x03])
    const parsed = parseExVideo(manyCodecs)
    expect(parsed).toMatchObject({ packetType: 3, multitrack: AvMultitrackType.ManyTracksManyCodecs })
    expect(parsed.tracks.map((t) => [t.fourCc, t.trackId, [...t.data]])).toEqual([["avc1", 0, [1, 2]], ["hvc1", 1, [3]]])
    // Written back byte for byte.
    for (const bytes of [one, many, manyCodecs]) expect(encodeExVideo(parseExVideo(bytes))).toEqual(bytes)
  })

  it("ModEx: TimestampOffsetNano with a one-byte size, and the UI16 size escape", () => {
    const nano = b([0x97, 0x02, 0x0f, 0x42, 0x3f, 0x01], "hvc1", [0, 0, 0], nalus) // 999 999 ns
    const tag = parseExVideo(nano)
    expect(tag).toMatchObject({ frameType: 1, packetType: 1 })
    expect(timestampOffsetNanos(tag.modEx)).toBe(999_999)
    expect(encodeExVideo(tag)).toEqual(nano)

    const big = Buffer.alloc(300, 7)
    const escaped = b([0x97, 0xff, 0x01, 0x2b], big, [0x13], "av01", [0x12, 0x00]) // size 300 = UI16 299 + 1; ModEx type 1 then CodedFramesX
    const parsedBig = parseExVideo(escaped)
    expect(parsedBig.modEx).toEqual([{ type: 1, data: big }])
    expect(parsedBig.packetType).toBe(3)
    expect(encodeExVideo(parsedBig)).toEqual(escaped)
  })

  it("a command frame has no FourCC and no body; Metadata with frame type Command is still Metadata", () => {
    expect(parseExVideo(Buffer.from([0xd1, 0x01]))).toEqual({ frameType: 5, packetType: 1, modEx: [], command: 1, multitrack: undefined, tracks: [] })
    expect(encodeExVideo(parseExVideo(Buffer.from([0xd1, 0x00])))).toEqual(Buffer.from([0xd1, 0x00]))
    const metadata = parseExVideo(b([0xd4], "hvc1", [0x02, 0, 9], "colorInfo"))
    expect(metadata).toMatchObject({ packetType: 4, command: undefined })
    expect(metadata.tracks[0]?.fourCc).toBe("hvc1")
  })

  it("fails in a controlled way: truncated, reserved packet type, multitrack inside multitrack, bad multitrack type", () => {
    for (const bad of [
      Buffer.from([0x90, 0x68]),
      Buffer.from([0x98, 0x61, 0x76, 0x30, 0x31]),
      Buffer.from([0x96, 0x06, 0x68, 0x76, 0x63, 0x31]),
      b([0x96, 0x31], "hvc1", [0x00]),
      b([0x96, 0x11], "hvc1", [0x00], [0, 0, 9], [1]),
      Buffer.from([0x97, 0x05, 1, 2])
    ]) {
      expect(() => parseExVideo(bad), bad.toString("hex")).toThrow(ErtmpError)
    }
  })

  it("splits a ManyTracks message into OneTrack messages, one per track", () => {
    const many = b([0x96, 0x13], "hvc1", [0x00], [0, 0, 2], [0xaa, 0xbb], [0x01], [0, 0, 1], [0xcc])
    const parts = splitVideoTracks(many, parseExVideo(many))
    expect(parts.map((p) => Buffer.from(p.payload).toString("hex"))).toEqual([
      b([0x96, 0x03], "hvc1", [0x00], [0xaa, 0xbb]).toString("hex"),
      b([0x96, 0x03], "hvc1", [0x01], [0xcc]).toString("hex")
    ])
  })
})

describe("E-RTMP v2 audio tags", () => {
  it("Opus SequenceStart and frames, OBS's track-1 AAC, MultichannelConfig", () => {
    const head = b("OpusHead", [1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0])
    expect(parseExAudio(b([0x90], "Opus", head))).toEqual({ packetType: 0, modEx: [], multitrack: undefined, tracks: [{ fourCc: "Opus", trackId: 0, compositionTime: 0, data: head }] })
    expect(parseExAudio(b([0x91], "Opus", [0xfc, 1, 2])).tracks[0]?.data).toEqual(Buffer.from([0xfc, 1, 2]))
    const track1 = b([0x95, 0x01], "mp4a", [0x01], [0x21, 0x10])
    expect(parseExAudio(track1)).toMatchObject({ packetType: 1, multitrack: 0, tracks: [{ fourCc: "mp4a", trackId: 1 }] })
    expect(encodeExAudio(parseExAudio(track1))).toEqual(track1)
    expect(parseExAudio(b([0x94], "Opus", [1, 2, 0, 0, 0, 3]))).toMatchObject({ packetType: 4 })
  })
})

const fourCcs = fc.constantFrom("avc1", "hvc1", "av01", "vp09", "vvc1")
const bytes = fc.uint8Array({ minLength: 0, maxLength: 40 }).map((a) => Buffer.from(a))
const modExes = fc.array(fc.record({ type: fc.integer({ min: 0, max: 15 }), data: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)) }), { maxLength: 2 })

const videoTag: fc.Arbitrary<ExVideoTag> = fc
  .record({
    frameType: fc.constantFrom(1, 2, 3, 4),
    packetType: fc.constantFrom(0, 1, 2, 3, 4, 5),
    modEx: modExes,
    multitrack: fc.constantFrom(undefined, 0, 1, 2),
    tracks: fc.array(fc.record({ fourCc: fourCcs, trackId: fc.integer({ min: 0, max: 255 }), compositionTime: fc.integer({ min: -0x800000, max: 0x7fffff }), data: bytes }), { minLength: 1, maxLength: 3 })
  })
  .map((t) => {
    const single = t.multitrack === undefined || t.multitrack === 0
    const shared = t.tracks[0]?.fourCc ?? "hvc1"
    const tracks = (single ? t.tracks.slice(0, 1) : t.tracks).map((track) => ({
      ...track,
      fourCc: t.multitrack === 2 ? track.fourCc : shared,
      trackId: t.multitrack === undefined ? 0 : track.trackId,
      compositionTime: t.packetType === 1 && ["avc1", "hvc1", "vvc1"].includes(t.multitrack === 2 ? track.fourCc : shared) ? track.compositionTime : 0
    }))
    return { frameType: t.frameType, packetType: t.packetType, modEx: t.modEx, command: undefined, multitrack: t.multitrack, tracks }
  })

const audioTag: fc.Arbitrary<ExAudioTag> = fc
  .record({
    packetType: fc.constantFrom(0, 1, 2, 4),
    modEx: modExes,
    multitrack: fc.constantFrom(undefined, 0, 1, 2),
    tracks: fc.array(fc.record({ fourCc: fc.constantFrom("mp4a", "Opus", "fLaC", "ac-3"), trackId: fc.integer({ min: 0, max: 255 }), data: bytes }), { minLength: 1, maxLength: 3 })
  })
  .map((t) => {
    const single = t.multitrack === undefined || t.multitrack === 0
    const shared = t.tracks[0]?.fourCc ?? "mp4a"
    const tracks = (single ? t.tracks.slice(0, 1) : t.tracks).map((track) => ({
      fourCc: t.multitrack === 2 ? track.fourCc : shared,
      trackId: t.multitrack === undefined ? 0 : track.trackId,
      compositionTime: 0,
      data: track.data
    }))
    return { packetType: t.packetType, modEx: t.modEx, multitrack: t.multitrack, tracks }
  })

describe("E-RTMP v2 round trips", () => {
  it("parse(encode(video tag)) gives the tag back, every layout", () => {
    fc.assert(
      fc.property(videoTag, (tag) => {
        const parsed = parseExVideo(encodeExVideo(tag))
        expect(parsed).toEqual({ ...tag, modEx: tag.modEx.map((m) => ({ type: m.type, data: m.data })) })
      }),
      { numRuns: 500 }
    )
  })

  it("parse(encode(audio tag)) gives the tag back, every layout", () => {
    fc.assert(
      fc.property(audioTag, (tag) => {
        expect(parseExAudio(encodeExAudio(tag))).toEqual(tag)
      }),
      { numRuns: 500 }
    )
  })

  it("never throws anything but an ErtmpError on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (input) => {
        const payload = Buffer.from(input)
        if (payload.length > 0) payload[0] = (payload[0] as number) | 0x80
        try {
          parseExVideo(payload)
        } catch (e) {
          expect(e).toBeInstanceOf(ErtmpError)
        }
        if (payload.length > 0) payload[0] = 0x90 | ((payload[0] as number) & 0x0f)
        try {
          parseExAudio(payload)
        } catch (e) {
          expect(e).toBeInstanceOf(ErtmpError)
        }
      }),
      { numRuns: 2000 }
    )
  })
})
