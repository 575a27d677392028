/** fMP4 boxes with golden bytes (ISO/IEC 14496-12, 14496-14/15, Opus-in-ISOBMFF), and CODECS strings from real records. */
import { describe, expect, it } from "@effect/vitest"
import { box, fragment, fullBox, opus, parseOpusHead, u32 } from "../../src/protocol/fmp4.js"
import { audioConfig, avcPictureSize, videoConfig } from "../../src/media/codecs.js"
import { hex } from "../support/hex.js"

const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex")

describe("fMP4 boxes", () => {
  it("box and full box headers: 32-bit size, type, version and flags", () => {
    expect(toHex(box("free"))).toBe("0000000866726565")
    expect(toHex(fullBox("mfhd", 0, 0, u32(7)))).toBe("000000106d66686400000000" + "00000007")
  })

  it("a fragment: mfhd sequence, tfhd default-base-is-moof, tfdt v1, trun v1 with signed offsets, data offset to the mdat payload", () => {
    const bytes = fragment(3, [{ id: 1, baseDecodeTime: 90_000, samples: [{ duration: 3600, data: Uint8Array.of(1, 2, 3), sync: true, compositionOffset: -3600 }] }])
    const b = Buffer.from(bytes)
    const moofSize = b.readUInt32BE(0)
    expect(b.subarray(4, 8).toString()).toBe("moof")
    expect(b.readUInt32BE(16 + 4)).toBe(3) // mfhd sequence (mfhd at 8: size, type, version/flags, seq)
    const tfhd = b.indexOf("tfhd")
    expect(b.readUInt32BE(tfhd + 4)).toBe(0x00020000)
    const tfdt = b.indexOf("tfdt")
    expect(b[tfdt + 4]).toBe(1)
    expect(b.readBigUInt64BE(tfdt + 8)).toBe(90_000n)
    const trun = b.indexOf("trun")
    expect(b.readUInt32BE(trun + 4)).toBe(0x01000f01) // version 1, flags 0xf01
    expect(b.readUInt32BE(trun + 8)).toBe(1)
    expect(b.readInt32BE(trun + 12)).toBe(moofSize + 8) // data offset: just past the mdat header
    expect([b.readUInt32BE(trun + 16), b.readUInt32BE(trun + 20), b.readUInt32BE(trun + 24), b.readInt32BE(trun + 28)]).toEqual([3600, 3, 0x02000000, -3600])
    expect(toHex(b.subarray(moofSize))).toBe("0000000b6d646174010203")
  })

  it("Opus: RFC 7845 OpusHead (little-endian) becomes dOps (big-endian)", () => {
    const head = hex("4f 70 75 73 48 65 61 64 01 02 38 01 80 bb 00 00 00 00 00") // OpusHead v1, 2 ch, pre-skip 312, 48000 Hz
    expect(parseOpusHead(head)).toMatchObject({ channels: 2, preSkip: 312, inputSampleRate: 48000, mappingFamily: 0 })
    const entry = Buffer.from(opus(head))
    const dOps = entry.indexOf("dOps")
    expect(toHex(entry.subarray(dOps + 4, dOps + 15))).toBe("00" + "02" + "0138" + "0000bb80" + "0000" + "00")
  })
})

describe("decoder configurations from FLV / E-RTMP sequence headers", () => {
  // An AVCDecoderConfigurationRecord from x264 (High, level 1.3, 320x240), in a legacy FLV video tag.
  const avcC = hex("01 64 00 0d ff e1 00 19 67 64 00 0d ac d9 41 41 fb 01 10 00 00 03 00 10 00 00 03 03 20 f1 42 99 60 01 00 06 68 eb e3 cb 22 c0")
  it("H.264: avc1.PPCCLL from the record, picture size from the SPS", () => {
    const config = videoConfig(Buffer.concat([hex("17 00 00 00 00"), avcC]))
    expect(config).toMatchObject({ codec: "avc1", codecs: "avc1.64000d", width: 320, height: 240 })
    expect(avcPictureSize(avcC.subarray(8, 8 + 0x19))).toEqual({ width: 320, height: 240 })
  })

  it("HEVC over E-RTMP: hvc1.profile.compat.tier+level.constraints (ISO/IEC 14496-15 E.3)", () => {
    // hvcC: version 1, Main profile (1), compat flags 0x60000000, constraints 0x90 00.., level 93 (3.1)
    const hvcC = hex("01 01 60 00 00 00 90 00 00 00 00 00 5d f0 00 fc fd f8 f8 00 00 0f 00")
    const config = videoConfig(Buffer.concat([hex("90"), Buffer.from("hvc1"), hvcC]), { width: 1280, height: 720 })
    expect(config).toMatchObject({ codec: "hvc1", codecs: "hvc1.1.6.L93.90", width: 1280 })
  })

  it("AV1 over E-RTMP: av01.profile.levelTier.bitDepth", () => {
    const av1C = hex("81 08 0c 00") // main profile, level 8 (4.0), main tier, 8-bit
    expect(videoConfig(Buffer.concat([hex("90"), Buffer.from("av01"), av1C]))).toMatchObject({ codec: "av01", codecs: "av01.0.08M.08" })
  })

  it("AAC: mp4a.40.AOT, sample rate and channels from the AudioSpecificConfig", () => {
    expect(audioConfig(hex("af 00 12 10"))).toMatchObject({ codec: "mp4a", codecs: "mp4a.40.2", sampleRate: 44100, channels: 2 })
    expect(audioConfig(hex("af 00 11 90"))).toMatchObject({ sampleRate: 48000, channels: 2 })
    expect(audioConfig(hex("af 00 2b 11 80"))).toMatchObject({ codecs: "mp4a.40.5", sampleRate: 24000, channels: 2 }) // HE-AAC, explicit SBR signalling
  })
})
