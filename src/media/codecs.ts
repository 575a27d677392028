/**
 * What a container needs from FLV / E-RTMP tags, pure: the decoder configuration of each track (as an
 * fMP4 sample entry and an RFC 6381 CODECS string), and for each frame its payload without the FLV tag
 * header plus its composition time offset. Legacy AVC/AAC tags and E-RTMP v2 single-track tags
 * (hvc1, av01, avc1, Opus, mp4a) are understood; anything else is not packaged.
 */
import { parseExAudio, parseExVideo } from "../protocol/ertmp.js"
import { av01, avc1, hvc1, mp4a, opus, type TrackSetup, vp09 } from "../protocol/fmp4.js"

export interface VideoConfig {
  readonly kind: "video"
  readonly codec: "avc1" | "hvc1" | "av01" | "vp09"
  readonly setup: TrackSetup
  /** RFC 6381, from the configuration record itself. */
  readonly codecs: string
  readonly width: number
  readonly height: number
}

export interface AudioConfig {
  readonly kind: "audio"
  readonly codec: "mp4a" | "Opus"
  readonly setup: TrackSetup
  readonly codecs: string
  readonly sampleRate: number
  readonly channels: number
}

/** One coded frame of a tag: its data as the container stores it, and PTS − DTS in ms. */
export interface CodedFrame {
  readonly data: Uint8Array
  readonly compositionTime: number
}

const hex2 = (n: number) => n.toString(16).padStart(2, "0")
const si24 = (p: Uint8Array, at: number) => {
  const v = ((p[at] ?? 0) << 16) | ((p[at + 1] ?? 0) << 8) | (p[at + 2] ?? 0)
  return v & 0x800000 ? v - 0x1000000 : v
}

// --- H.264 SPS: just enough to read the picture size ------------------------------------------------------

class BitReader {
  private bit = 0
  constructor(private readonly bytes: Uint8Array) {}
  u(n: number): number {
    let v = 0
    for (let i = 0; i < n; i++) {
      const byte = this.bytes[this.bit >>> 3] ?? 0
      v = (v << 1) | ((byte >>> (7 - (this.bit & 7))) & 1)
      this.bit++
    }
    return v >>> 0
  }
  ue(): number {
    let zeros = 0
    while (this.u(1) === 0 && zeros < 32) zeros++
    return (2 ** zeros - 1 + this.u(zeros)) >>> 0
  }
  se(): number {
    const k = this.ue()
    return k & 1 ? (k + 1) / 2 : -(k / 2)
  }
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00). */
const unescapeRbsp = (nal: Uint8Array): Uint8Array => {
  const out: Array<number> = []
  for (let i = 0; i < nal.length; i++) {
    if (i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue
    out.push(nal[i] as number)
  }
  return Uint8Array.from(out)
}

/** Width and height from an H.264 SPS NAL unit (ITU-T H.264 §7.3.2.1.1), cropping applied. */
export const avcPictureSize = (sps: Uint8Array): { width: number; height: number } => {
  const r = new BitReader(unescapeRbsp(sps.subarray(1)))
  const profile = r.u(8)
  r.u(16) // constraint flags, level
  r.ue() // seq_parameter_set_id
  let chromaFormat = 1
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
    chromaFormat = r.ue()
    if (chromaFormat === 3) r.u(1)
    r.ue() // bit depth luma
    r.ue() // bit depth chroma
    r.u(1)
    if (r.u(1)) {
      for (let i = 0; i < (chromaFormat === 3 ? 12 : 8); i++) {
        if (!r.u(1)) continue
        let last = 8
        let next = 8
        for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
          if (next !== 0) next = (last + r.se() + 256) % 256
          last = next === 0 ? last : next
        }
      }
    }
  }
  r.ue() // log2_max_frame_num
  const pocType = r.ue()
  if (pocType === 0) r.ue()
  else if (pocType === 1) {
    r.u(1)
    r.se()
    r.se()
    const n = r.ue()
    for (let i = 0; i < n; i++) r.se()
  }
  r.ue() // max_num_ref_frames
  r.u(1)
  const widthMbs = r.ue() + 1
  const heightMapUnits = r.ue() + 1
  const frameMbsOnly = r.u(1)
  if (!frameMbsOnly) r.u(1)
  r.u(1)
  let [left, right, top, bottom] = [0, 0, 0, 0]
  if (r.u(1)) [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()]
  const cropX = chromaFormat === 0 ? 1 : 2
  const cropY = (chromaFormat === 1 ? 2 : 1) * (2 - frameMbsOnly)
  return { width: widthMbs * 16 - cropX * (left + right), height: (2 - frameMbsOnly) * heightMapUnits * 16 - cropY * (top + bottom) }
}

/** The first SPS of an AVCDecoderConfigurationRecord. */
const firstSps = (avcC: Uint8Array): Uint8Array | undefined => {
  if (avcC.length < 8 || ((avcC[5] ?? 0) & 0x1f) === 0) return undefined
  const length = ((avcC[6] ?? 0) << 8) | (avcC[7] ?? 0)
  return avcC.subarray(8, 8 + length)
}

// --- configurations ---------------------------------------------------------------------------------------

/** The video decoder configuration in a sequence-header tag, or undefined for a codec we do not package. */
export const videoConfig = (payload: Uint8Array, hint: { width?: number; height?: number } = {}): VideoConfig | undefined => {
  const enhanced = ((payload[0] ?? 0) & 0x80) !== 0
  const track = enhanced ? exVideoTrack(payload) : undefined
  if (enhanced && track === undefined) return undefined
  const codec = track?.fourCc ?? (payload[0] ?? 0) & 0x0f
  const record = track?.data ?? payload.subarray(5)
  const size = (width: number, height: number) => ({ width: hint.width ?? width, height: hint.height ?? height })
  if (codec === 7 || codec === "avc1") {
    const sps = firstSps(record)
    const { width, height } = sps === undefined ? size(0, 0) : avcPictureSize(sps)
    const codecs = `avc1.${hex2(record[1] ?? 0)}${hex2(record[2] ?? 0)}${hex2(record[3] ?? 0)}`
    return { kind: "video", codec: "avc1", codecs, width, height, setup: { id: 1, kind: "video", timescale: 90000, sampleEntry: avc1(record, width, height), width, height } }
  }
  if (codec === 12 || codec === "hvc1") {
    const { width, height } = size(0, 0)
    // ISO/IEC 14496-15 E.3: hvc1.[space]profile.compat(reversed bits, hex).{L|H}level.constraint bytes
    const profileSpace = ["", "A", "B", "C"][((record[1] ?? 0) >>> 6) & 3] ?? ""
    const tier = ((record[1] ?? 0) & 0x20) !== 0 ? "H" : "L"
    const profile = (record[1] ?? 0) & 0x1f
    let compat = ((record[2] ?? 0) << 24) | ((record[3] ?? 0) << 16) | ((record[4] ?? 0) << 8) | (record[5] ?? 0)
    let reversed = 0
    for (let i = 0; i < 32; i++, compat >>>= 1) reversed = (reversed << 1) | (compat & 1)
    const constraints = Array.from(record.subarray(6, 12))
    while (constraints.length > 0 && constraints.at(-1) === 0) constraints.pop()
    const codecs = [`hvc1.${profileSpace}${profile}`, (reversed >>> 0).toString(16), `${tier}${record[12] ?? 0}`, ...constraints.map((b) => b.toString(16))].join(".")
    return { kind: "video", codec: "hvc1", codecs, width, height, setup: { id: 1, kind: "video", timescale: 90000, sampleEntry: hvc1(record, width, height), width, height } }
  }
  if (codec === "av01") {
    const { width, height } = size(0, 0)
    // av1C: marker/version, seq_profile(3) seq_level_idx_0(5), tier(1) high_bitdepth twelve_bit monochrome ...
    const profile = ((record[1] ?? 0) >>> 5) & 7
    const level = (record[1] ?? 0) & 0x1f
    const tier = ((record[2] ?? 0) & 0x80) !== 0 ? "H" : "M"
    const highBitDepth = ((record[2] ?? 0) & 0x40) !== 0
    const twelveBit = ((record[2] ?? 0) & 0x20) !== 0
    const depth = highBitDepth ? (twelveBit ? 12 : 10) : 8
    const codecs = `av01.${profile}.${String(level).padStart(2, "0")}${tier}.${String(depth).padStart(2, "0")}`
    return { kind: "video", codec: "av01", codecs, width, height, setup: { id: 1, kind: "video", timescale: 90000, sampleEntry: av01(record, width, height), width, height } }
  }
  if (codec === "vp09" && record.length >= 8) {
    const { width, height } = size(0, 0)
    // vpcC (VP Codec ISO Media File Format §2.3): version/flags, profile, level, bitDepth(4) chroma(3) range(1), …
    const two = (n: number) => String(n).padStart(2, "0")
    const codecs = `vp09.${two(record[4] ?? 0)}.${two(record[5] ?? 0)}.${two((record[6] ?? 0x80) >>> 4)}`
    return { kind: "video", codec: "vp09", codecs, width, height, setup: { id: 1, kind: "video", timescale: 90000, sampleEntry: vp09(record, width, height), width, height } }
  }
  return undefined
}

/** The default track of an E-RTMP audio message (whatever its ModEx or multitrack framing), or undefined. */
const exAudioTrack = (payload: Uint8Array) => {
  try {
    return parseExAudio(payload).tracks.find((t) => t.trackId === 0)
  } catch {
    return undefined
  }
}

/** The default track of an E-RTMP video message (whatever its ModEx or multitrack framing), or undefined. */
const exVideoTrack = (payload: Uint8Array) => {
  try {
    return parseExVideo(payload).tracks.find((t) => t.trackId === 0)
  } catch {
    return undefined
  }
}

const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]

/** The audio decoder configuration in a sequence-header tag, or undefined for a codec we do not package. */
export const audioConfig = (payload: Uint8Array): AudioConfig | undefined => {
  const format = (payload[0] ?? 0) >>> 4
  const track = format === 9 ? exAudioTrack(payload) : undefined
  if (format === 9 && track === undefined) return undefined
  const codec = track?.fourCc ?? format
  if (codec === 10 || codec === "mp4a") {
    const asc = track?.data ?? payload.subarray(2)
    let objectType = (asc[0] ?? 0) >>> 3
    let rateIndex = (((asc[0] ?? 0) & 0x07) << 1) | ((asc[1] ?? 0) >>> 7)
    let at = 9 // bit position after the sampling frequency index
    if (objectType === 31) {
      objectType = 32 + ((((asc[0] ?? 0) & 0x07) << 3) | ((asc[1] ?? 0) >>> 5))
      rateIndex = ((asc[1] ?? 0) >>> 1) & 0x0f
      at = 15
    }
    const sampleRate = AAC_RATES[rateIndex] ?? 44100
    const byte = asc[at >>> 3] ?? 0
    const next = asc[(at >>> 3) + 1] ?? 0
    const channels = (((byte << 8) | next) >>> (12 - (at & 7))) & 0x0f || 2
    return { kind: "audio", codec: "mp4a", codecs: `mp4a.40.${objectType}`, sampleRate, channels, setup: { id: 2, kind: "audio", timescale: sampleRate, sampleEntry: mp4a(asc, channels, sampleRate) } }
  }
  if (codec === "Opus") {
    const head = track?.data ?? new Uint8Array()
    const entry = opus(head)
    const channels = head.length >= 10 ? (head[9] ?? 2) : 2
    return { kind: "audio", codec: "Opus", codecs: "opus", sampleRate: 48000, channels, setup: { id: 2, kind: "audio", timescale: 48000, sampleEntry: entry } }
  }
  return undefined
}

/** The coded frame in a (non-header) video tag, or undefined for tags that carry none (commands, metadata). */
export const videoFrame = (payload: Uint8Array): CodedFrame | undefined => {
  if (((payload[0] ?? 0) & 0x80) === 0) {
    if (payload[1] !== 1) return undefined
    return { data: payload.subarray(5), compositionTime: si24(payload, 2) }
  }
  try {
    const tag = parseExVideo(payload)
    if (tag.packetType !== 1 && tag.packetType !== 3) return undefined
    const track = tag.tracks.find((t) => t.trackId === 0)
    return track === undefined ? undefined : { data: track.data, compositionTime: track.compositionTime }
  } catch {
    return undefined
  }
}

/** The coded frame in a (non-header) audio tag. */
export const audioFrame = (payload: Uint8Array): CodedFrame | undefined => {
  const format = (payload[0] ?? 0) >>> 4
  if (format === 10) return payload[1] === 1 ? { data: payload.subarray(2), compositionTime: 0 } : undefined
  if (format !== 9) return undefined
  try {
    const tag = parseExAudio(payload)
    const track = tag.packetType === 1 ? tag.tracks.find((t) => t.trackId === 0) : undefined
    return track === undefined ? undefined : { data: track.data, compositionTime: 0 }
  } catch {
    return undefined
  }
}

export interface FlacStreamInfo {
  readonly sampleRate: number
  readonly channels: number
  readonly bitsPerSample: number
  readonly totalSamples: number
}

/**
 * FLAC STREAMINFO (RFC 9639 §8.2) from an E-RTMP `fLaC` SequenceStart body: either `"fLaC"` followed by the
 * STREAMINFO metadata block (header included), as the spec describes, or the bare 34-byte STREAMINFO that
 * ffmpeg writes as extradata. Undefined when it is neither.
 */
export const flacStreamInfo = (body: Uint8Array): FlacStreamInfo | undefined => {
  const magic = body.length >= 4 && body[0] === 0x66 && body[1] === 0x4c && body[2] === 0x61 && body[3] === 0x43
  // After "fLaC": a 4-byte metadata block header (type 0 = STREAMINFO, length 34).
  const info = magic ? ((body[4] ?? 0x7f) & 0x7f) === 0 ? body.subarray(8, 42) : undefined : body.subarray(0, 34)
  if (info === undefined || info.length < 34) return undefined
  const b = (i: number) => info[i] ?? 0
  const sampleRate = (b(10) << 12) | (b(11) << 4) | (b(12) >>> 4)
  const channels = ((b(12) >>> 1) & 0x07) + 1
  const bitsPerSample = (((b(12) & 0x01) << 4) | (b(13) >>> 4)) + 1
  const totalSamples = (b(13) & 0x0f) * 2 ** 32 + ((b(14) << 24) >>> 0) + (b(15) << 16) + (b(16) << 8) + b(17)
  return sampleRate === 0 ? undefined : { sampleRate, channels, bitsPerSample, totalSamples }
}
