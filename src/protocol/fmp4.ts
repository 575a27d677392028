/**
 * Fragmented MP4 (ISO/IEC 14496-12, CMAF-style) writing, pure: an init segment (ftyp + moov with one trak
 * and one trex per track) and fragments (moof with one traf per track + one mdat). Fragments use
 * default-base-is-moof, tfdt v1 (64-bit decode times) and trun v1 (signed composition offsets, so
 * B-frames need no edit list). Sample entries for H.264 (avc1/avcC), HEVC (hvc1/hvcC), AV1 (av01/av1C),
 * AAC (mp4a/esds) and Opus (Opus/dOps). Nothing here knows RTMP, HLS or sockets.
 */

// --- box writing ---------------------------------------------------------------------------------------

type Part = Uint8Array | ReadonlyArray<Part>

const flatten = (parts: ReadonlyArray<Part>, out: Array<Uint8Array>): number => {
  let size = 0
  for (const part of parts) {
    if (part instanceof Uint8Array) {
      out.push(part)
      size += part.length
    } else size += flatten(part as ReadonlyArray<Part>, out)
  }
  return size
}

const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  const out = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/** A box: 32-bit size, four-character type, then its content. */
export const box = (type: string, ...content: ReadonlyArray<Part>): Uint8Array => {
  const chunks: Array<Uint8Array> = []
  const size = 8 + flatten(content, chunks)
  const header = new Uint8Array(8)
  new DataView(header.buffer).setUint32(0, size)
  for (let i = 0; i < 4; i++) header[4 + i] = type.charCodeAt(i)
  return concat([header, ...chunks], size)
}

/** A full box: a box whose content starts with a version byte and 24 bits of flags. */
export const fullBox = (type: string, version: number, flags: number, ...content: ReadonlyArray<Part>): Uint8Array =>
  box(type, u8(version), u24(flags), ...content)

export const u8 = (n: number) => Uint8Array.of(n & 0xff)
export const u16 = (n: number) => Uint8Array.of((n >>> 8) & 0xff, n & 0xff)
export const u24 = (n: number) => Uint8Array.of((n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
export const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n >>> 0)
  return b
}
export const i32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setInt32(0, n)
  return b
}
export const u64 = (n: number) => {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(n))))
  return b
}
const zeros = (n: number) => new Uint8Array(n)
const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0))

/** The unity matrix of mvhd and tkhd. */
const MATRIX = [u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0), u32(0x40000000)]

// --- sample entries ---------------------------------------------------------------------------------------

const visualSampleEntry = (type: string, width: number, height: number, ...config: ReadonlyArray<Uint8Array>) =>
  box(
    type,
    zeros(6),
    u16(1), // data_reference_index
    zeros(16), // pre_defined, reserved
    u16(width),
    u16(height),
    u32(0x00480000), // 72 dpi
    u32(0x00480000),
    u32(0),
    u16(1), // frame_count
    zeros(32), // compressorname
    u16(0x0018), // depth
    Uint8Array.of(0xff, 0xff), // pre_defined = -1
    ...config
  )

const audioSampleEntry = (type: string, channels: number, sampleRate: number, ...config: ReadonlyArray<Uint8Array>) =>
  box(type, zeros(6), u16(1), zeros(8), u16(channels), u16(16), zeros(4), u32((sampleRate & 0xffff) * 0x10000), ...config)

/** H.264: `avcC` is the FLV AVC sequence header's AVCDecoderConfigurationRecord, verbatim. */
export const avc1 = (avcC: Uint8Array, width: number, height: number) => visualSampleEntry("avc1", width, height, box("avcC", avcC))

/** HEVC: `hvcC` is the E-RTMP SequenceStart payload, verbatim (hvc1: parameter sets in the record, as Apple requires). */
export const hvc1 = (hvcC: Uint8Array, width: number, height: number) => visualSampleEntry("hvc1", width, height, box("hvcC", hvcC))

/** AV1: `av1C` is the E-RTMP SequenceStart payload, verbatim. */
export const av01 = (av1C: Uint8Array, width: number, height: number) => visualSampleEntry("av01", width, height, box("av1C", av1C))

/** VP9: `vpcC` is the E-RTMP SequenceStart payload, version and flags included (a FullBox body), verbatim. */
export const vp09 = (vpcC: Uint8Array, width: number, height: number) => visualSampleEntry("vp09", width, height, box("vpcC", vpcC))

/** An MPEG-4 descriptor: tag, a 4-byte size (0x80-continued), content. */
const descriptor = (tag: number, ...content: ReadonlyArray<Uint8Array>) => {
  const chunks: Array<Uint8Array> = []
  const size = flatten(content, chunks)
  return concat([Uint8Array.of(tag, 0x80 | ((size >>> 21) & 0x7f), 0x80 | ((size >>> 14) & 0x7f), 0x80 | ((size >>> 7) & 0x7f), size & 0x7f), ...chunks], size + 5)
}

/** AAC: `asc` is the FLV AAC sequence header's AudioSpecificConfig. */
export const mp4a = (asc: Uint8Array, channels: number, sampleRate: number) =>
  audioSampleEntry(
    "mp4a",
    channels,
    sampleRate,
    fullBox(
      "esds",
      0,
      0,
      descriptor(
        0x03, // ES_Descriptor
        u16(1), // ES_ID
        u8(0),
        descriptor(0x04, u8(0x40), u8(0x15), u24(0), u32(0), u32(0), descriptor(0x05, asc)), // DecoderConfig: MPEG-4 audio
        descriptor(0x06, u8(0x02)) // SLConfig
      )
    )
  )

/** Opus: `dOps` from an RFC 7845 OpusHead (what E-RTMP carries): little-endian there, big-endian here. */
export const opus = (opusHead: Uint8Array) => {
  const head = parseOpusHead(opusHead)
  const mapping = head.mappingFamily === 0 ? new Uint8Array(0) : head.mappingTable
  return audioSampleEntry(
    "Opus",
    head.channels,
    48000,
    box("dOps", u8(0), u8(head.channels), u16(head.preSkip), u32(head.inputSampleRate), u16(head.outputGain & 0xffff), u8(head.mappingFamily), mapping)
  )
}

export interface OpusHead {
  readonly channels: number
  readonly preSkip: number
  readonly inputSampleRate: number
  readonly outputGain: number
  readonly mappingFamily: number
  readonly mappingTable: Uint8Array
}

/** RFC 7845 §5.1: `OpusHead` magic, version, channels, pre-skip, rate, gain (all little-endian), mapping. Empty → stereo defaults. */
export const parseOpusHead = (bytes: Uint8Array): OpusHead => {
  if (bytes.length < 19 || String.fromCharCode(...bytes.subarray(0, 8)) !== "OpusHead") {
    return { channels: 2, preSkip: 312, inputSampleRate: 48000, outputGain: 0, mappingFamily: 0, mappingTable: new Uint8Array(0) }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    channels: bytes[9] ?? 2,
    preSkip: view.getUint16(10, true),
    inputSampleRate: view.getUint32(12, true),
    outputGain: view.getInt16(16, true),
    mappingFamily: bytes[18] ?? 0,
    mappingTable: bytes.subarray(19)
  }
}

// --- init segment -----------------------------------------------------------------------------------------

export interface TrackSetup {
  readonly id: number
  readonly kind: "video" | "audio"
  /** Units per second of this track's times: 90 000 for video, the sample rate for audio. */
  readonly timescale: number
  readonly sampleEntry: Uint8Array
  readonly width?: number
  readonly height?: number
}

const trak = (track: TrackSetup) => {
  const video = track.kind === "video"
  return box(
    "trak",
    fullBox("tkhd", 0, 3, u32(0), u32(0), u32(track.id), u32(0), u32(0), zeros(8), u16(0), u16(0), u16(video ? 0 : 0x0100), u16(0), MATRIX,
      u32((track.width ?? 0) * 0x10000), u32((track.height ?? 0) * 0x10000)),
    box(
      "mdia",
      fullBox("mdhd", 0, 0, u32(0), u32(0), u32(track.timescale), u32(0), u16(0x55c4 /* 'und' */), u16(0)),
      fullBox("hdlr", 0, 0, u32(0), ascii(video ? "vide" : "soun"), zeros(12), ascii(video ? "VideoHandler\0" : "SoundHandler\0")),
      box(
        "minf",
        video ? fullBox("vmhd", 0, 1, zeros(8)) : fullBox("smhd", 0, 0, zeros(4)),
        box("dinf", fullBox("dref", 0, 0, u32(1), fullBox("url ", 0, 1))),
        box(
          "stbl",
          fullBox("stsd", 0, 0, u32(1), track.sampleEntry),
          fullBox("stts", 0, 0, u32(0)),
          fullBox("stsc", 0, 0, u32(0)),
          fullBox("stsz", 0, 0, u32(0), u32(0)),
          fullBox("stco", 0, 0, u32(0))
        )
      )
    )
  )
}

/** ftyp + moov: what a player needs before the first fragment (HLS `EXT-X-MAP`). */
export const initSegment = (tracks: ReadonlyArray<TrackSetup>): Uint8Array =>
  join([
    box("ftyp", ascii("iso6"), u32(0), ascii("iso6"), ascii("mp41"), ascii("isom")),
    box(
      "moov",
      fullBox("mvhd", 0, 0, u32(0), u32(0), u32(1000), u32(0), u32(0x00010000), u16(0x0100), zeros(10), MATRIX, zeros(24), u32(Math.max(0, ...tracks.map((t) => t.id)) + 1)),
      ...tracks.map(trak),
      box("mvex", ...tracks.map((t) => fullBox("trex", 0, 0, u32(t.id), u32(1), u32(0), u32(0), u32(0))))
    )
  ])

/** Concatenates byte arrays. */
export const join = (parts: ReadonlyArray<Uint8Array>): Uint8Array => concat(parts, parts.reduce((n, p) => n + p.length, 0))

// --- fragments ----------------------------------------------------------------------------------------------

export interface Sample {
  /** In the track's timescale. */
  readonly duration: number
  readonly data: Uint8Array
  /** A sync sample (keyframe; every audio sample). */
  readonly sync: boolean
  /** Composition time offset (PTS − DTS) in the track's timescale; may be negative. */
  readonly compositionOffset: number
}

export interface TrackRun {
  readonly id: number
  /** Decode time of the first sample, in the track's timescale. */
  readonly baseDecodeTime: number
  readonly samples: ReadonlyArray<Sample>
}

const SYNC = 0x02000000 // sample_depends_on = 2 (no other samples)
const NON_SYNC = 0x01010000 // sample_depends_on = 1, sample_is_non_sync_sample

/** moof + mdat for one fragment (an LL-HLS part): one traf per track with samples, their data in track order. */
export const fragment = (sequence: number, runs: ReadonlyArray<TrackRun>): Uint8Array => {
  // Written into one allocation (a part is made every 200 ms per stream: small boxes and copies add up).
  const present = runs.filter((r) => r.samples.length > 0)
  const trafSize = (run: TrackRun) => 8 + 16 + 20 + (8 + 4 + 4 + 4 + 16 * run.samples.length)
  const moofSize = 8 + 16 + present.reduce((n, run) => n + trafSize(run), 0)
  let mediaSize = 0
  for (const run of present) for (const sample of run.samples) mediaSize += sample.data.length
  const out = Buffer.allocUnsafe(moofSize + 8 + mediaSize)
  let at = 0
  const header = (size: number, type: string) => {
    out.writeUInt32BE(size, at)
    out.write(type, at + 4, "latin1")
    at += 8
  }
  const full = (size: number, type: string, version: number, flags: number) => {
    header(size, type)
    out.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), at)
    at += 4
  }
  header(moofSize, "moof")
  full(16, "mfhd", 0, 0)
  out.writeUInt32BE(sequence >>> 0, at)
  at += 4
  let dataOffset = moofSize + 8
  for (const run of present) {
    header(trafSize(run), "traf")
    full(16, "tfhd", 0, 0x020000) // default-base-is-moof
    out.writeUInt32BE(run.id, at)
    at += 4
    full(20, "tfdt", 1, 0)
    out.writeUInt32BE(Math.floor(run.baseDecodeTime / 0x100000000) >>> 0, at)
    out.writeUInt32BE(run.baseDecodeTime >>> 0, at + 4)
    at += 8
    full(8 + 4 + 4 + 4 + 16 * run.samples.length, "trun", 1, 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800) // data offset, duration, size, flags, composition offset
    out.writeUInt32BE(run.samples.length, at)
    out.writeInt32BE(dataOffset | 0, at + 4)
    at += 8
    for (const sample of run.samples) {
      out.writeUInt32BE(sample.duration >>> 0, at)
      out.writeUInt32BE(sample.data.length, at + 4)
      out.writeUInt32BE(sample.sync ? SYNC : NON_SYNC, at + 8)
      out.writeInt32BE(sample.compositionOffset | 0, at + 12)
      at += 16
      dataOffset += sample.data.length
    }
  }
  header(8 + mediaSize, "mdat")
  for (const run of present)
    for (const sample of run.samples) {
      out.set(sample.data, at)
      at += sample.data.length
    }
  return out
}
