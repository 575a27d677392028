/**
 * E-RTMP test media from Debian's ffmpeg 5.1, which cannot publish HEVC/AV1/VP9/Opus over RTMP itself:
 * ffmpeg encodes fragmented MP4, `mp4-reader` lifts the configuration record and the samples, and this
 * module frames them as E-RTMP tags (legacy FLV for AVC/AAC). The way back for the decodability check:
 * received tags → Annex-B HEVC, a low-overhead AV1 OBU stream, VP9 in IVF — formats ffmpeg reads without
 * any of our code — and `framemd5` compared with the source's.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type Mp4Track, readFragmentedMp4 } from "./mp4-reader.js"
import { run } from "./processes.js"

export type FixtureCodec = "hevc" | "av1" | "vp9" | "opus" | "h264"

const ENCODERS: Record<FixtureCodec, ReadonlyArray<string>> = {
  hevc: ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:log-level=error", "-tag:v", "hvc1", "-pix_fmt", "yuv420p"],
  av1: ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-c:v", "libaom-av1", "-cpu-used", "8", "-g", "25", "-pix_fmt", "yuv420p"],
  vp9: ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "25", "-pix_fmt", "yuv420p"],
  opus: ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "libopus", "-b:a", "64k"],
  h264: ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "2", "-pix_fmt", "yuv420p"]
}

export interface Fixture {
  readonly file: string
  readonly track: Mp4Track
}

export const encodeFixture = async (codec: FixtureCodec, seconds = 2): Promise<Fixture> => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `ertmp-${codec}-`)), "source.mp4")
  const result = await run(
    "ffmpeg",
    ["-hide_banner", "-nostdin", "-v", "error", "-y", ...ENCODERS[codec], "-t", String(seconds), "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", file],
    180_000
  )
  if (result.code !== 0) throw new Error(`ffmpeg could not encode ${codec}: ${result.stderr}`)
  return { file, track: readFragmentedMp4(fs.readFileSync(file), codec === "opus" ? 28 : 78) }
}

/** dOps (ISO BMFF Opus) → OpusHead (RFC 7845 §5.1): magic, version 1, then the same fields little-endian. */
export const opusHeadFromDops = (dops: Buffer): Buffer => {
  const head = Buffer.alloc(19 + (dops[10] === 0 ? 0 : 2 + (dops[1] ?? 0)))
  head.write("OpusHead", 0, "latin1")
  head[8] = 1
  head[9] = dops[1] ?? 2
  head.writeUInt16LE(dops.readUInt16BE(2), 10)
  head.writeUInt32LE(dops.readUInt32BE(4), 12)
  head.writeInt16LE(dops.readInt16BE(8), 16)
  head[18] = dops[10] ?? 0
  if (dops[10] !== 0) dops.copy(head, 19, 11)
  return head
}

export interface Tag {
  readonly typeId: 8 | 9
  readonly timestamp: number
  readonly payload: Buffer
}

const si24 = (v: number) => Buffer.from([(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff])

/**
 * The fixture as RTMP messages: SequenceStart, then one CodedFrames per sample (DTS in ms; avc1/hvc1 with
 * their composition offset). `trackId` > 0 frames them as OBS does for extra tracks: Multitrack OneTrack.
 */
export const toTags = (fixture: Fixture, options: { readonly trackId?: number; readonly legacy?: boolean } = {}): Array<Tag> => {
  const { track } = fixture
  const trackId = options.trackId ?? 0
  const fourCc = track.codec === "Opus" ? "Opus" : track.codec === "mp4a" ? "mp4a" : track.codec === "avc1" ? "avc1" : track.codec
  const audio = fourCc === "Opus" || fourCc === "mp4a"
  const cc = Buffer.from(fourCc, "latin1")
  const toMs = (units: number) => Math.round((units * 1000) / track.timescale)
  const withCts = fourCc === "avc1" || fourCc === "hvc1"
  const config = fourCc === "Opus" ? opusHeadFromDops(track.config) : track.config
  const tags: Array<Tag> = []
  const video = (frameType: number, packetType: number, body: Buffer): Buffer =>
    trackId === 0
      ? Buffer.concat([Buffer.of(0x80 | (frameType << 4) | packetType), cc, body])
      : Buffer.concat([Buffer.of(0x80 | (frameType << 4) | 6, packetType), cc, Buffer.of(trackId), body])
  const sound = (packetType: number, body: Buffer): Buffer =>
    trackId === 0 ? Buffer.concat([Buffer.of(0x90 | packetType), cc, body]) : Buffer.concat([Buffer.of(0x95, packetType), cc, Buffer.of(trackId), body])
  if (options.legacy === true && fourCc === "avc1") tags.push({ typeId: 9, timestamp: 0, payload: Buffer.concat([Buffer.of(0x17, 0, 0, 0, 0), config]) })
  else tags.push({ typeId: audio ? 8 : 9, timestamp: 0, payload: audio ? sound(0, config) : video(1, 0, config) })
  let dts = 0
  for (const sample of track.samples) {
    const timestamp = toMs(dts)
    const cts = toMs(dts + sample.compositionOffset) - timestamp
    let payload: Buffer
    if (audio) payload = sound(1, sample.data)
    else if (options.legacy === true && fourCc === "avc1") payload = Buffer.concat([Buffer.of(sample.sync ? 0x17 : 0x27, 1), si24(cts), sample.data])
    else payload = video(sample.sync ? 1 : 2, 1, withCts ? Buffer.concat([si24(cts), sample.data]) : sample.data)
    tags.push({ typeId: audio ? 8 : 9, timestamp, payload })
    dts += sample.duration
  }
  return tags
}

// --- back to formats ffmpeg reads ---------------------------------------------------------------------

/** hvcC NAL arrays (VPS, SPS, PPS, SEI) and then length-prefixed NAL units → Annex-B with start codes. */
export const hevcAnnexB = (hvcC: Buffer, frames: ReadonlyArray<Buffer>): Buffer => {
  const start = Buffer.of(0, 0, 0, 1)
  const out: Array<Buffer> = []
  let at = 23
  for (let a = 0; a < (hvcC[22] ?? 0); a++) {
    const count = hvcC.readUInt16BE(at + 1)
    at += 3
    for (let n = 0; n < count; n++) {
      const length = hvcC.readUInt16BE(at)
      out.push(start, hvcC.subarray(at + 2, at + 2 + length))
      at += 2 + length
    }
  }
  for (const frame of frames) {
    for (let p = 0; p + 4 <= frame.length; ) {
      const size = frame.readUInt32BE(p)
      out.push(start, frame.subarray(p + 4, p + 4 + size))
      p += 4 + size
    }
  }
  return Buffer.concat(out)
}

/** AV1 temporal units → the low-overhead OBU stream ffmpeg's `obu` demuxer reads (a temporal delimiter before each). */
export const av1Obus = (frames: ReadonlyArray<Buffer>): Buffer => Buffer.concat(frames.flatMap((f) => [Buffer.of(0x12, 0x00), f]))

/** VP9 frames in an IVF file. */
export const vp9Ivf = (frames: ReadonlyArray<Buffer>, width: number, height: number): Buffer => {
  const header = Buffer.alloc(32)
  header.write("DKIF", 0, "latin1")
  header.writeUInt16LE(0, 4)
  header.writeUInt16LE(32, 6)
  header.write("VP90", 8, "latin1")
  header.writeUInt16LE(width, 12)
  header.writeUInt16LE(height, 14)
  header.writeUInt32LE(25, 16)
  header.writeUInt32LE(1, 20)
  header.writeUInt32LE(frames.length, 24)
  return Buffer.concat([
    header,
    ...frames.flatMap((frame, i) => {
      const h = Buffer.alloc(12)
      h.writeUInt32LE(frame.length, 0)
      h.writeBigUInt64LE(BigInt(i), 4)
      return [h, frame]
    })
  ])
}

/** The md5 of every decoded frame (`-f framemd5`, last column), in order. */
export const frameMd5s = async (input: ReadonlyArray<string>, stream: "v" | "a"): Promise<Array<string>> => {
  const result = await run("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", ...input, "-map", `0:${stream}:0`, "-f", "framemd5", "-"], 120_000)
  if (result.code !== 0) throw new Error(`framemd5 failed: ${result.stderr}`)
  return result.stdout
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(",").at(-1)?.trim() ?? "")
}
