/**
 * Audio/video tag inspection (FLV spec v10.1 Annex E, and Enhanced RTMP v2): what the fan-out needs to
 * know about a media message without copying it — is it a keyframe, a sequence header, which codec,
 * the composition time offset. Legacy AVC/HEVC(id 12)/AAC and the E-RTMP ExHeader forms (FourCC
 * `avc1`/`hvc1`/`av01`/`vp09`/`vp08`, `Opus`/`fLaC`/`mp4a`/…) are recognised; anything else passes through.
 */

import { ExAudioPacketType, ExVideoPacketType, parseExAudio, parseExVideo } from "./ertmp.js"

export const VideoCodec = { SorensonH263: 2, Screen: 3, VP6: 4, VP6Alpha: 5, Screen2: 6, AVC: 7, HEVC: 12 } as const
export const AudioFormat = { MP3: 2, Nellymoser: 6, G711A: 7, G711U: 8, ExHeader: 9, AAC: 10, Speex: 11 } as const
export const FrameType = { Key: 1, Inter: 2, DisposableInter: 3, Generated: 4, Command: 5 } as const

/** E-RTMP packet types, defined with the E-RTMP codec (`ertmp.ts`). */
export { ExAudioPacketType as AudioPacketType, ExVideoPacketType as VideoPacketType } from "./ertmp.js"

export interface VideoTagInfo {
  /** A frame a decoder can start from (not a sequence header, not an end of sequence). */
  readonly keyframe: boolean
  /** Decoder configuration (AVCDecoderConfigurationRecord or its E-RTMP equivalent). */
  readonly sequenceHeader: boolean
  /** The legacy CodecID, or the FourCC for E-RTMP. */
  readonly codec: number | string
  readonly enhanced: boolean
  /** Composition time offset in ms (signed 24-bit); 0 when the format has none. */
  readonly compositionTime: number
}

export interface AudioTagInfo {
  readonly sequenceHeader: boolean
  readonly codec: number | string
  readonly enhanced: boolean
}

const si24 = (payload: Uint8Array, at: number): number => {
  const v = ((payload[at] as number) << 16) | ((payload[at + 1] as number) << 8) | (payload[at + 2] as number)
  return v & 0x800000 ? v - 0x1000000 : v
}

const EMPTY_VIDEO: VideoTagInfo = { keyframe: false, sequenceHeader: false, codec: 0, enhanced: false, compositionTime: 0 }

/** The default track of an E-RTMP message, read with the full v2 grammar (`ertmp.ts`); a malformed one says only "enhanced". */
const exVideoInfo = (payload: Uint8Array): VideoTagInfo => {
  try {
    const tag = parseExVideo(payload)
    const track = tag.tracks[0]
    if (track === undefined) return { ...EMPTY_VIDEO, enhanced: true }
    const coded = tag.packetType === ExVideoPacketType.CodedFrames || tag.packetType === ExVideoPacketType.CodedFramesX
    return {
      keyframe: coded && tag.frameType === FrameType.Key,
      sequenceHeader: tag.packetType === ExVideoPacketType.SequenceStart || tag.packetType === ExVideoPacketType.MPEG2TSSequenceStart,
      codec: track.fourCc,
      enhanced: true,
      compositionTime: track.compositionTime
    }
  } catch {
    return { ...EMPTY_VIDEO, enhanced: true }
  }
}

/** AVC and HEVC (legacy id 12) tags carry an AVCPacketType byte: 0 decoder configuration, 1 coded frames. */
const carriesPacketType = (codec: number): boolean => codec === VideoCodec.AVC || codec === VideoCodec.HEVC

/** A legacy (not E-RTMP) video tag a decoder can start from. Reads two bytes: the stream core's per-message path. */
export const legacyVideoKeyframe = (payload: Uint8Array): boolean => {
  const b0 = payload[0] ?? 0
  return b0 >> 4 === FrameType.Key && (!carriesPacketType(b0 & 0x0f) || payload[1] === 1)
}

/** A legacy video tag carrying the decoder configuration (AVCDecoderConfigurationRecord or HEVC's). */
export const legacyVideoSequenceHeader = (payload: Uint8Array): boolean => carriesPacketType((payload[0] ?? 0) & 0x0f) && payload[1] === 0

/** A legacy AAC tag carrying the AudioSpecificConfig. */
export const legacyAudioSequenceHeader = (payload: Uint8Array): boolean => (payload[0] ?? 0) >> 4 === AudioFormat.AAC && payload[1] === 0

export const inspectVideo = (payload: Uint8Array): VideoTagInfo => {
  if (payload.length < 1) return EMPTY_VIDEO
  const b0 = payload[0] as number
  if ((b0 & 0x80) !== 0) return exVideoInfo(payload)
  const codec = b0 & 0x0f
  return {
    keyframe: legacyVideoKeyframe(payload),
    sequenceHeader: legacyVideoSequenceHeader(payload),
    codec,
    enhanced: false,
    compositionTime: carriesPacketType(codec) && payload.length >= 5 && payload[1] === 1 ? si24(payload, 2) : 0
  }
}

export const inspectAudio = (payload: Uint8Array): AudioTagInfo => {
  if (payload.length < 1) return { sequenceHeader: false, codec: 0, enhanced: false }
  const b0 = payload[0] as number
  const format = b0 >> 4
  if (format === AudioFormat.ExHeader) {
    try {
      const tag = parseExAudio(payload)
      const sequenceHeader = tag.packetType === ExAudioPacketType.SequenceStart || tag.packetType === ExAudioPacketType.MultichannelConfig
      return { sequenceHeader, codec: tag.tracks[0]?.fourCc ?? 0, enhanced: true }
    } catch {
      return { sequenceHeader: false, codec: 0, enhanced: true }
    }
  }
  return { sequenceHeader: legacyAudioSequenceHeader(payload), codec: format, enhanced: false }
}

// --- writing ------------------------------------------------------------------------------------------

/** Bytes of an FLV tag header (type, size, timestamp, stream id). */
export const FLV_TAG_HEADER_SIZE = 11

/**
 * The FLV file header with PreviousTagSize0: signature, version 1, audio/video flags, header size 9.
 * Players (flv.js, mpegts.js, ffmpeg) read the flags to decide which tracks to wait for.
 */
export const encodeFlvHeader = (hasAudio: boolean, hasVideo: boolean): Buffer => {
  const header = Buffer.from([0x46, 0x4c, 0x56, 0x01, 0, 0, 0, 0, 9, 0, 0, 0, 0])
  header[4] = (hasAudio ? 0x04 : 0) | (hasVideo ? 0x01 : 0)
  return header
}

/** Bytes of an FLV tag with a payload of `payloadLength` bytes, with its PreviousTagSize. */
export const flvTagLength = (payloadLength: number): number => FLV_TAG_HEADER_SIZE + payloadLength + 4

/**
 * One FLV tag followed by its PreviousTagSize: the body is the RTMP message payload as it is (FLV and
 * RTMP share the audio, video and script-data tag formats). The timestamp is 24 bits plus an extension
 * byte holding bits 24–31; StreamID is always 0. `headroom` bytes are left free before the tag, for a
 * framing the caller writes there (a WebSocket frame header), so the tag is not copied again.
 */
export const encodeFlvTag = (typeId: number, timestamp: number, payload: Uint8Array, headroom = 0): Buffer => {
  const size = payload.length
  const buffer = Buffer.allocUnsafe(headroom + flvTagLength(size))
  const tag = headroom === 0 ? buffer : buffer.subarray(headroom)
  tag[0] = typeId & 0x1f
  tag.writeUIntBE(size, 1, 3)
  tag.writeUIntBE(timestamp & 0xffffff, 4, 3)
  tag[7] = (timestamp >>> 24) & 0xff
  tag.writeUIntBE(0, 8, 3)
  tag.set(payload, FLV_TAG_HEADER_SIZE)
  tag.writeUInt32BE(FLV_TAG_HEADER_SIZE + size, FLV_TAG_HEADER_SIZE + size)
  return buffer
}
