import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { encodeFlvHeader, encodeFlvTag, inspectAudio, inspectVideo } from "../../src/protocol/flv.js"
import { readFlv } from "../support/flv.js"
import { hex } from "../support/hex.js"

describe("video tag inspection", () => {
  it("recognises AVC sequence headers, keyframes and inter frames", () => {
    expect(inspectVideo(hex("17 00 00 00 00 01 64"))).toMatchObject({ sequenceHeader: true, keyframe: false, codec: 7 })
    expect(inspectVideo(hex("17 01 00 00 00 00 00"))).toMatchObject({ sequenceHeader: false, keyframe: true })
    expect(inspectVideo(hex("27 01 00 00 00 00 00"))).toMatchObject({ keyframe: false })
    expect(inspectVideo(hex("17 02 00 00 00"))).toMatchObject({ keyframe: false, sequenceHeader: false }) // end of sequence
  })

  it("reads the composition time as signed 24-bit", () => {
    expect(inspectVideo(hex("27 01 00 00 21")).compositionTime).toBe(33)
    expect(inspectVideo(hex("27 01 ff ff df")).compositionTime).toBe(-33)
  })

  it("recognises legacy HEVC (codec 12)", () => {
    expect(inspectVideo(hex("1c 00 00 00 00"))).toMatchObject({ sequenceHeader: true, codec: 12 })
    expect(inspectVideo(hex("1c 01 00 00 00"))).toMatchObject({ keyframe: true, codec: 12 })
  })

  it("recognises Enhanced RTMP ExHeader video (hvc1, av01, vp09)", () => {
    // 0x90 = ExHeader | key frame (1) | SequenceStart (0)
    expect(inspectVideo(hex("90 68 76 63 31 01"))).toMatchObject({ sequenceHeader: true, codec: "hvc1", enhanced: true })
    // 0x91 = key frame, CodedFrames, with SI24 CTS for hvc1
    expect(inspectVideo(hex("91 68 76 63 31 ff ff fe 00"))).toMatchObject({ keyframe: true, compositionTime: -2 })
    // 0xa3 = inter frame, CodedFramesX
    expect(inspectVideo(hex("a3 61 76 30 31 00"))).toMatchObject({ keyframe: false, codec: "av01" })
    expect(inspectVideo(hex("93 76 70 30 39 00"))).toMatchObject({ keyframe: true, codec: "vp09", compositionTime: 0 })
    expect(inspectVideo(hex("92 61 76 30 31"))).toMatchObject({ keyframe: false, sequenceHeader: false })
  })

  it("treats other codecs' key frames as keyframes and survives empty payloads", () => {
    expect(inspectVideo(hex("12 00"))).toMatchObject({ keyframe: true, codec: 2 })
    expect(inspectVideo(hex(""))).toMatchObject({ keyframe: false, sequenceHeader: false })
    expect(inspectVideo(hex("90 68"))).toMatchObject({ keyframe: false, enhanced: true })
  })
})

describe("audio tag inspection", () => {
  it("recognises the AAC sequence header and raw frames", () => {
    expect(inspectAudio(hex("af 00 12 10"))).toMatchObject({ sequenceHeader: true, codec: 10 })
    expect(inspectAudio(hex("af 01 21 00"))).toMatchObject({ sequenceHeader: false })
    expect(inspectAudio(hex("2f ff"))).toMatchObject({ sequenceHeader: false, codec: 2 })
  })

  it("recognises Enhanced RTMP audio (Opus sequence start)", () => {
    expect(inspectAudio(hex("90 4f 70 75 73 00"))).toMatchObject({ sequenceHeader: true, codec: "Opus", enhanced: true })
    expect(inspectAudio(hex("91 4f 70 75 73 00"))).toMatchObject({ sequenceHeader: false, codec: "Opus" })
  })
})

describe("FLV writer", () => {
  it("file header: signature, version 1, flags, header size 9, PreviousTagSize0 (FLV spec E.2, E.3)", () => {
    expect(encodeFlvHeader(true, true).toString("hex")).toBe("464c5601050000000900000000")
    expect(encodeFlvHeader(false, true)[4]).toBe(0x01)
    expect(encodeFlvHeader(true, false)[4]).toBe(0x04)
  })

  it("tag: type, 24-bit size, timestamp with its extension byte, stream id 0, body, PreviousTagSize", () => {
    const tag = encodeFlvTag(9, 0x12345678, Buffer.from([0x17, 0x01, 0xaa]))
    expect(tag.toString("hex")).toBe("09" + "000003" + "345678" + "12" + "000000" + "1701aa" + "0000000e")
  })

  it("round trip through an independent reader, for any type, timestamp and body", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ type: fc.constantFrom(8, 9, 18), timestamp: fc.nat({ max: 0xffffffff }), data: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 20 }),
        (tags) => {
          const file = Buffer.concat([encodeFlvHeader(true, true), ...tags.map((t) => encodeFlvTag(t.type, t.timestamp, t.data))])
          const read = readFlv(file)
          expect(read.map((t) => [t.type, t.timestamp, Buffer.from(t.data).toString("hex")])).toEqual(
            tags.map((t) => [t.type, t.timestamp, Buffer.from(t.data).toString("hex")])
          )
        }
      )
    )
  })
})
