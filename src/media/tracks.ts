/**
 * What the stream core needs to know about each audio/video message to keep state per track and to
 * give each viewer only what it can decode: its track id, its codec as a FourCC (legacy CodecIDs
 * mapped: 7 → avc1, 10 → mp4a, …), whether its bytes are legacy FLV or E-RTMP, keyframe and decoder
 * configuration. Multitrack messages with several tracks are split into one message per track
 * (OneTrack layout), so every frame belongs to exactly one track. Writers that send E-RTMP coded frames
 * with frame type 0 (MediaMTX does) get their keyframes found in the bitstream.
 */
import { ExAudioPacketType, ExVideoPacketType, parseExAudio, parseExVideo, splitAudioTracks, splitVideoTracks } from "../protocol/ertmp.js"
import { AudioFormat, legacyAudioSequenceHeader, legacyVideoKeyframe, legacyVideoSequenceHeader } from "../protocol/flv.js"
import { MediaFrame, TagType } from "./frame.js"

export interface TrackPart {
  readonly payload: Uint8Array
  readonly track: number
  /** FourCC (`avc1`, `hvc1`, `av01`, `vp09`, `mp4a`, `Opus`, `.mp3`, …) or `legacy-N` for other legacy formats. */
  readonly codec: string
  /** E-RTMP bytes (a legacy-only player cannot parse them). */
  readonly enhanced: boolean
  readonly keyframe: boolean
  readonly sequenceHeader: boolean
}

const LEGACY_VIDEO_NAMES: Readonly<Record<number, string>> = { 7: "avc1", 12: "hvc1" }
const LEGACY_AUDIO_NAMES: Readonly<Record<number, string>> = { [AudioFormat.AAC]: "mp4a", [AudioFormat.MP3]: ".mp3", 14: ".mp3" }
/** Every legacy CodecID (video) and SoundFormat (audio), 0–15, named once rather than per message. */
const LEGACY_VIDEO = Array.from({ length: 16 }, (_, id) => LEGACY_VIDEO_NAMES[id] ?? `legacy-${id}`)
const LEGACY_AUDIO = Array.from({ length: 16 }, (_, format) => LEGACY_AUDIO_NAMES[format] ?? `legacy-${format}`)
const legacyVideoCodec = (b0: number): string => LEGACY_VIDEO[b0 & 0x0f] as string
const legacyAudioCodec = (b0: number): string => LEGACY_AUDIO[b0 >> 4] as string

const FRAME_KEY = 1
const FRAME_INTER = 2

/** HEVC: an IRAP NAL unit (types 16–23) among the 4-byte length-prefixed NAL units. */
const hevcHasIrap = (data: Uint8Array): boolean => {
  for (let at = 0; at + 5 <= data.length; ) {
    const size = (((data[at] as number) << 24) | ((data[at + 1] as number) << 16) | ((data[at + 2] as number) << 8) | (data[at + 3] as number)) >>> 0
    const type = ((data[at + 4] as number) >> 1) & 0x3f
    if (type >= 16 && type <= 23) return true
    at += 4 + size
  }
  return false
}

/** AVC: an IDR NAL unit (type 5). */
const avcHasIdr = (data: Uint8Array): boolean => {
  for (let at = 0; at + 5 <= data.length; ) {
    const size = (((data[at] as number) << 24) | ((data[at + 1] as number) << 16) | ((data[at + 2] as number) << 8) | (data[at + 3] as number)) >>> 0
    if (((data[at + 4] as number) & 0x1f) === 5) return true
    at += 4 + size
  }
  return false
}

/** AV1: a temporal unit that starts a coded video sequence carries a sequence header OBU (type 1). */
const av1HasSequenceHeader = (data: Uint8Array): boolean => {
  for (let at = 0; at < data.length; ) {
    const header = data[at] as number
    const type = (header >> 3) & 0x0f
    if (type === 1) return true
    const hasExtension = (header & 0x04) !== 0
    const hasSize = (header & 0x02) !== 0
    if (!hasSize) return false
    let p = at + 1 + (hasExtension ? 1 : 0)
    let size = 0
    for (let i = 0; i < 8; i++) {
      const byte = data[p++] ?? 0
      size += (byte & 0x7f) * 2 ** (7 * i)
      if ((byte & 0x80) === 0) break
    }
    at = p + size
  }
  return false
}

/** VP9 uncompressed header: frame_marker, profile, show_existing_frame, frame_type (0 = key frame). */
const vp9IsKeyframe = (data: Uint8Array): boolean => {
  const b = data[0]
  if (b === undefined || b >> 6 !== 2) return false
  const profile = ((b >> 5) & 1) | (((b >> 4) & 1) << 1)
  let bit = profile === 3 ? 5 : 4 // after marker(2) + profile bits(2) [+ reserved zero for profile 3]
  const read = () => ((data[bit >> 3] ?? 0) >> (7 - (bit++ & 7))) & 1
  if (read() === 1) return false // show_existing_frame
  return read() === 0
}

const bitstreamKeyframe = (codec: string, data: Uint8Array): boolean => {
  switch (codec) {
    case "hvc1":
      return hevcHasIrap(data)
    case "avc1":
      return avcHasIdr(data)
    case "av01":
      return av1HasSequenceHeader(data)
    case "vp09":
      return vp9IsKeyframe(data)
    default:
      return false
  }
}

const opaque = (payload: Uint8Array, codec: string, enhanced: boolean): Array<TrackPart> => [
  { payload, track: 0, codec, enhanced, keyframe: false, sequenceHeader: false }
]

/** The track parts of one video message (one, except for multi-track batches). Never throws. */
export const videoParts = (payload: Uint8Array): Array<TrackPart> => {
  const b0 = payload[0]
  if (b0 === undefined) return opaque(payload, "", false)
  if ((b0 & 0x80) === 0) {
    return [{ payload, track: 0, codec: legacyVideoCodec(b0), enhanced: false, keyframe: legacyVideoKeyframe(payload), sequenceHeader: legacyVideoSequenceHeader(payload) }]
  }
  let tag
  try {
    tag = parseExVideo(payload)
  } catch {
    return opaque(payload, "", true) // passed on as it came; it starts nothing and configures nothing
  }
  const sequenceHeader = tag.packetType === ExVideoPacketType.SequenceStart || tag.packetType === ExVideoPacketType.MPEG2TSSequenceStart
  const coded = tag.packetType === ExVideoPacketType.CodedFrames || tag.packetType === ExVideoPacketType.CodedFramesX
  return splitVideoTracks(payload, tag).map(({ track, payload: part }) => ({
    payload: part,
    track: track.trackId,
    codec: track.fourCc,
    enhanced: true,
    sequenceHeader,
    keyframe: coded && (tag.frameType === FRAME_KEY || (tag.frameType !== FRAME_INTER && tag.frameType !== 3 && bitstreamKeyframe(track.fourCc, track.data)))
  }))
}

/** The track parts of one audio message. Never throws. */
export const audioParts = (payload: Uint8Array): Array<TrackPart> => {
  const b0 = payload[0]
  if (b0 === undefined) return opaque(payload, "", false)
  const format = b0 >> 4
  if (format !== AudioFormat.ExHeader) {
    return [{ payload, track: 0, codec: legacyAudioCodec(b0), enhanced: false, keyframe: false, sequenceHeader: legacyAudioSequenceHeader(payload) }]
  }
  let tag
  try {
    tag = parseExAudio(payload)
  } catch {
    return opaque(payload, "", true)
  }
  const sequenceHeader = tag.packetType === ExAudioPacketType.SequenceStart || tag.packetType === ExAudioPacketType.MultichannelConfig
  return splitAudioTracks(payload, tag).map(({ track, payload: part }) => ({ payload: part, track: track.trackId, codec: track.fourCc, enhanced: true, keyframe: false, sequenceHeader }))
}

/**
 * A legacy FLV message — nearly every publisher's — as its one frame, its facts read without the parts
 * array and part objects `videoParts`/`audioParts` make (the stream core's per-message path); undefined for
 * E-RTMP and empty messages, which go through those.
 */
export const legacyFrame = (typeId: number, timestamp: number, payload: Uint8Array): MediaFrame | undefined => {
  const b0 = payload[0]
  if (b0 === undefined) return undefined
  if (typeId === TagType.Video) {
    if ((b0 & 0x80) !== 0) return undefined
    return new MediaFrame(typeId, timestamp, payload, legacyVideoKeyframe(payload), legacyVideoSequenceHeader(payload), 0, legacyVideoCodec(b0), false)
  }
  if (b0 >> 4 === AudioFormat.ExHeader) return undefined
  return new MediaFrame(typeId, timestamp, payload, false, legacyAudioSequenceHeader(payload), 0, legacyAudioCodec(b0), false)
}

/** Short codec names users write (`--push …#codecs=h264,aac`) as FourCCs; FourCCs pass as they are. */
const CODEC_NAMES: Record<string, string> = {
  h264: "avc1",
  avc: "avc1",
  hevc: "hvc1",
  h265: "hvc1",
  av1: "av01",
  vp9: "vp09",
  vp8: "vp08",
  vvc: "vvc1",
  aac: "mp4a",
  mp3: ".mp3",
  opus: "Opus",
  flac: "fLaC",
  ac3: "ac-3",
  eac3: "ec-3"
}

export const codecFourCc = (name: string): string => CODEC_NAMES[name.toLowerCase()] ?? name

/**
 * What one viewer can take: the codecs it declared (`*` = any), whether it parses E-RTMP at all and
 * multitrack. A legacy viewer (no `fourCcList`) gets legacy-coded frames of track 0; an E-RTMP one the
 * codecs it listed; tracks other than 0 only go to viewers that declared the Multitrack capability.
 * Script data always passes.
 */
export class TrackFilter {
  constructor(
    readonly video: ReadonlySet<string> | "*",
    readonly audio: ReadonlySet<string> | "*",
    readonly multitrack: boolean,
    /** Codecs refused even in legacy form (a push destination's allowlist). */
    readonly onlyListed = false
  ) {}

  /** A player that declared nothing: legacy FLV bytes only, track 0. */
  static readonly legacy = new TrackFilter(new Set(), new Set(), false)

  /** Every codec, the default track only (single-track outputs such as an FLV body). */
  static readonly defaultTrack = new TrackFilter("*", "*", false)

  /** Exactly these codecs, whatever the framing (a push destination's `#codecs=` allowlist). */
  static only(codecs: ReadonlyArray<string>, multitrack: boolean): TrackFilter {
    const set = new Set(codecs.map(codecFourCc))
    return new TrackFilter(set, set, multitrack, true)
  }

  accepts(typeId: number, track: number, codec: string, enhanced: boolean): boolean {
    if (typeId === TagType.Script) return true
    if (track !== 0 && !this.multitrack) return false
    const set = typeId === TagType.Video ? this.video : this.audio
    if (set === "*") return true
    if (this.onlyListed) return set.has(codec)
    return !enhanced || set.has(codec)
  }
}
