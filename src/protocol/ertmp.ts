/**
 * Enhanced RTMP v2 (veovera/enhanced-rtmp, `enhanced-rtmp-v2.md`): the ExVideoTagHeader and
 * ExAudioTagHeader grammar, parsed and written, pure. A message may carry ModEx prefixes (with the UI16
 * size escape; TimestampOffsetNano is the one defined type), a video command (no FourCC, no body),
 * Metadata, MPEG2TSSequenceStart, and multitrack bodies in the three layouts (OneTrack, ManyTracks,
 * ManyTracksManyCodecs with `sizeOfTrack`). Malformed input throws an `ErtmpError`; callers decide
 * whether that ends a connection (the stream core passes such a message on as opaque bytes).
 */
import { ErtmpError } from "./errors.js"

export const ExVideoPacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  SequenceEnd: 2,
  CodedFramesX: 3,
  Metadata: 4,
  MPEG2TSSequenceStart: 5,
  Multitrack: 6,
  ModEx: 7
} as const

export const ExAudioPacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  SequenceEnd: 2,
  MultichannelConfig: 4,
  Multitrack: 5,
  ModEx: 7
} as const

export const AvMultitrackType = { OneTrack: 0, ManyTracks: 1, ManyTracksManyCodecs: 2 } as const

export const ModExType = { TimestampOffsetNano: 0 } as const

/** `capsEx` bits of connect (client and server). */
export const CapsEx = { Reconnect: 1, Multitrack: 2, ModEx: 4, TimestampNanoOffset: 8 } as const

/** `videoFourCcInfoMap` / `audioFourCcInfoMap` value bits. */
export const FourCcInfo = { CanDecode: 1, CanEncode: 2, CanForward: 4 } as const

/** The soundFormat nibble that announces an ExAudioTagHeader. */
export const AUDIO_EX_HEADER = 9

export interface ModEx {
  readonly type: number
  readonly data: Uint8Array
}

/** One track's part of a message. */
export interface ExTrack {
  readonly fourCc: string
  readonly trackId: number
  /** SI24 composition time offset (ms) of avc1/hvc1/vvc1 CodedFrames; 0 for every other packet. */
  readonly compositionTime: number
  /** What follows the header (and the offset): a configuration record, coded frames, metadata AMF, … */
  readonly data: Uint8Array
}

export interface ExVideoTag {
  readonly frameType: number
  /** The packet type after ModEx and Multitrack are resolved. */
  readonly packetType: number
  readonly modEx: ReadonlyArray<ModEx>
  /** VideoCommand (0 StartSeek, 1 EndSeek) when frameType is Command; then there are no tracks. */
  readonly command: number | undefined
  /** The AvMultitrackType when the message is multitrack. */
  readonly multitrack: number | undefined
  readonly tracks: ReadonlyArray<ExTrack>
}

export interface ExAudioTag {
  readonly packetType: number
  readonly modEx: ReadonlyArray<ModEx>
  readonly multitrack: number | undefined
  readonly tracks: ReadonlyArray<ExTrack>
}

const VIDEO_COMMAND_FRAME = 5
const CTS_CODECS = new Set(["avc1", "hvc1", "vvc1"])

class Reader {
  at = 0
  constructor(readonly bytes: Uint8Array, readonly what: string) {}
  need(n: number): void {
    if (this.at + n > this.bytes.length) throw new ErtmpError({ message: `${this.what}: truncated (need ${n} byte(s) at offset ${this.at} of ${this.bytes.length})` })
  }
  u8(): number {
    this.need(1)
    return this.bytes[this.at++] as number
  }
  u16(): number {
    this.need(2)
    const v = ((this.bytes[this.at] as number) << 8) | (this.bytes[this.at + 1] as number)
    this.at += 2
    return v
  }
  u24(): number {
    this.need(3)
    const v = ((this.bytes[this.at] as number) << 16) | ((this.bytes[this.at + 1] as number) << 8) | (this.bytes[this.at + 2] as number)
    this.at += 3
    return v
  }
  si24(): number {
    const v = this.u24()
    return v & 0x800000 ? v - 0x1000000 : v
  }
  fourCc(): string {
    this.need(4)
    const b = this.bytes
    const s = String.fromCharCode(b[this.at] as number, b[this.at + 1] as number, b[this.at + 2] as number, b[this.at + 3] as number)
    this.at += 4
    return s
  }
  take(n: number): Uint8Array {
    this.need(n)
    const slice = this.bytes.subarray(this.at, this.at + n)
    this.at += n
    return slice
  }
  rest(): Uint8Array {
    const slice = this.bytes.subarray(this.at)
    this.at = this.bytes.length
    return slice
  }
}

/** The ModEx loop: `size-1` as UI8 (255 escapes to a UI16), the data, then `modExType:UB4 | packetType:UB4`. */
const readModEx = (r: Reader, packetType: number, modExCode: number): { packetType: number; modEx: Array<ModEx> } => {
  const modEx: Array<ModEx> = []
  let type = packetType
  while (type === modExCode) {
    let size = r.u8() + 1
    if (size === 256) size = r.u16() + 1
    const data = r.take(size)
    const next = r.u8()
    modEx.push({ type: next >> 4, data })
    type = next & 0x0f
    if (modEx.length > 16) throw new ErtmpError({ message: `${r.what}: more than 16 ModEx prefixes` })
  }
  return { packetType: type, modEx }
}

/** After a Multitrack packet type: `multitrackType:UB4 | packetType:UB4` (the inner type must not be Multitrack again). */
const readMultitrack = (r: Reader, packetType: number, multitrackCode: number): { multitrack: number | undefined; packetType: number } => {
  if (packetType !== multitrackCode) return { multitrack: undefined, packetType }
  const b = r.u8()
  if ((b & 0x0f) === multitrackCode) throw new ErtmpError({ message: `${r.what}: a multitrack packet type must not be Multitrack` })
  return { multitrack: b >> 4, packetType: b & 0x0f }
}

/** A track's payload: the composition time offset of CTS codecs' CodedFrames, then the data. */
const readTrackData = (r: Reader, fourCc: string, trackId: number, packetType: number, data: Uint8Array): ExTrack => {
  if (packetType === ExVideoPacketType.CodedFrames && CTS_CODECS.has(fourCc)) {
    const inner = new Reader(data, r.what)
    const compositionTime = inner.si24()
    return { fourCc, trackId, compositionTime, data: inner.rest() }
  }
  return { fourCc, trackId, compositionTime: 0, data }
}

const readTracks = (r: Reader, multitrack: number | undefined, packetType: number, isVideo: boolean): Array<ExTrack> => {
  const dataPacketType = isVideo ? packetType : -1 // audio has no composition offsets
  if (multitrack === undefined) {
    const fourCc = r.fourCc()
    return [readTrackData(r, fourCc, 0, dataPacketType, r.rest())]
  }
  if (multitrack > AvMultitrackType.ManyTracksManyCodecs) throw new ErtmpError({ message: `${r.what}: unknown AvMultitrackType ${multitrack}` })
  const shared = multitrack === AvMultitrackType.ManyTracksManyCodecs ? undefined : r.fourCc()
  const tracks: Array<ExTrack> = []
  while (r.at < r.bytes.length || tracks.length === 0) {
    const fourCc = shared ?? r.fourCc()
    const trackId = r.u8()
    const data = multitrack === AvMultitrackType.OneTrack ? r.rest() : r.take(r.u24())
    tracks.push(readTrackData(r, fourCc, trackId, dataPacketType, data))
    if (multitrack === AvMultitrackType.OneTrack) break
  }
  return tracks
}

/** Parses a video message whose first byte has the IsExHeader bit set. */
export const parseExVideo = (payload: Uint8Array): ExVideoTag => {
  const r = new Reader(payload, "E-RTMP video")
  const b0 = r.u8()
  if ((b0 & 0x80) === 0) throw new ErtmpError({ message: "E-RTMP video: IsExHeader is not set" })
  const frameType = (b0 >> 4) & 0x07
  const resolved = readModEx(r, b0 & 0x0f, ExVideoPacketType.ModEx)
  const packetType = resolved.packetType
  if (packetType > ExVideoPacketType.ModEx) throw new ErtmpError({ message: `E-RTMP video: reserved VideoPacketType ${packetType}` })
  if (packetType !== ExVideoPacketType.Metadata && frameType === VIDEO_COMMAND_FRAME) {
    return { frameType, packetType, modEx: resolved.modEx, command: r.u8(), multitrack: undefined, tracks: [] }
  }
  const { multitrack, packetType: inner } = readMultitrack(r, packetType, ExVideoPacketType.Multitrack)
  return { frameType, packetType: inner, modEx: resolved.modEx, command: undefined, multitrack, tracks: readTracks(r, multitrack, inner, true) }
}

/** Parses an audio message whose soundFormat is 9 (ExHeader). */
export const parseExAudio = (payload: Uint8Array): ExAudioTag => {
  const r = new Reader(payload, "E-RTMP audio")
  const b0 = r.u8()
  if (b0 >> 4 !== AUDIO_EX_HEADER) throw new ErtmpError({ message: "E-RTMP audio: soundFormat is not ExHeader (9)" })
  const resolved = readModEx(r, b0 & 0x0f, ExAudioPacketType.ModEx)
  const { multitrack, packetType } = readMultitrack(r, resolved.packetType, ExAudioPacketType.Multitrack)
  return { packetType, modEx: resolved.modEx, multitrack, tracks: readTracks(r, multitrack, packetType, false) }
}

/** The TimestampOffsetNano of a message (0..999 999 ns added to its ms timestamp), or 0. */
export const timestampOffsetNanos = (modEx: ReadonlyArray<ModEx>): number => {
  for (const m of modEx) {
    if (m.type === ModExType.TimestampOffsetNano && m.data.length >= 3) return ((m.data[0] as number) << 16) | ((m.data[1] as number) << 8) | (m.data[2] as number)
  }
  return 0
}

// --- writing ------------------------------------------------------------------------------------------

const fourCcBytes = (fourCc: string): Array<number> => {
  if (fourCc.length !== 4) throw new ErtmpError({ message: `FourCC '${fourCc}' is not 4 characters` })
  return [...fourCc].map((c) => c.charCodeAt(0) & 0xff)
}
const u24 = (v: number) => [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]

const writeModEx = (out: Array<Uint8Array>, modEx: ReadonlyArray<ModEx>, finalPacketType: number, modExCode: number): void => {
  modEx.forEach((m, i) => {
    const size = m.data.length
    if (size < 1 || size > 65536) throw new ErtmpError({ message: `ModEx data of ${size} bytes is out of range (1..65536)` })
    out.push(Uint8Array.from(size <= 255 ? [size - 1] : [0xff, ((size - 1) >> 8) & 0xff, (size - 1) & 0xff]), m.data)
    const next = i === modEx.length - 1 ? finalPacketType : modExCode
    out.push(Uint8Array.of(((m.type & 0x0f) << 4) | next))
  })
}

const trackBody = (track: ExTrack, packetType: number, isVideo: boolean): Uint8Array => {
  if (isVideo && packetType === ExVideoPacketType.CodedFrames && CTS_CODECS.has(track.fourCc)) {
    const body = new Uint8Array(3 + track.data.length)
    body.set(u24(track.compositionTime & 0xffffff), 0)
    body.set(track.data, 3)
    return body
  }
  return track.data
}

const writeTracks = (out: Array<Uint8Array>, multitrack: number | undefined, packetType: number, tracks: ReadonlyArray<ExTrack>, isVideo: boolean): void => {
  const first = tracks[0]
  if (first === undefined) throw new ErtmpError({ message: "an E-RTMP message needs at least one track" })
  if (multitrack === undefined) {
    out.push(Uint8Array.from(fourCcBytes(first.fourCc)), trackBody(first, packetType, isVideo))
    return
  }
  if (multitrack !== AvMultitrackType.ManyTracksManyCodecs) out.push(Uint8Array.from(fourCcBytes(first.fourCc)))
  for (const track of multitrack === AvMultitrackType.OneTrack ? [first] : tracks) {
    const body = trackBody(track, packetType, isVideo)
    const head = multitrack === AvMultitrackType.ManyTracksManyCodecs ? fourCcBytes(track.fourCc) : []
    head.push(track.trackId & 0xff)
    if (multitrack !== AvMultitrackType.OneTrack) head.push(...u24(body.length))
    out.push(Uint8Array.from(head), body)
  }
}

const concat = (parts: ReadonlyArray<Uint8Array>): Buffer => Buffer.concat(parts)

export const encodeExVideo = (tag: ExVideoTag): Buffer => {
  const out: Array<Uint8Array> = []
  const headType = tag.multitrack === undefined ? tag.packetType : ExVideoPacketType.Multitrack
  const firstType = tag.modEx.length > 0 ? ExVideoPacketType.ModEx : headType
  out.push(Uint8Array.of(0x80 | ((tag.frameType & 0x07) << 4) | firstType))
  writeModEx(out, tag.modEx, headType, ExVideoPacketType.ModEx)
  if (tag.command !== undefined) {
    out.push(Uint8Array.of(tag.command & 0xff))
    return concat(out)
  }
  if (tag.multitrack !== undefined) out.push(Uint8Array.of((tag.multitrack << 4) | tag.packetType))
  writeTracks(out, tag.multitrack, tag.packetType, tag.tracks, true)
  return concat(out)
}

export const encodeExAudio = (tag: ExAudioTag): Buffer => {
  const out: Array<Uint8Array> = []
  const headType = tag.multitrack === undefined ? tag.packetType : ExAudioPacketType.Multitrack
  const firstType = tag.modEx.length > 0 ? ExAudioPacketType.ModEx : headType
  out.push(Uint8Array.of((AUDIO_EX_HEADER << 4) | firstType))
  writeModEx(out, tag.modEx, headType, ExAudioPacketType.ModEx)
  if (tag.multitrack !== undefined) out.push(Uint8Array.of((tag.multitrack << 4) | tag.packetType))
  writeTracks(out, tag.multitrack, tag.packetType, tag.tracks, false)
  return concat(out)
}

/**
 * A multitrack message split into one message per track (OneTrack layout, ModEx kept on each), so each
 * track can be cached and sent on its own. Messages with one track come back as they are.
 */
const splitTracks = <T extends { readonly multitrack: number | undefined; readonly tracks: ReadonlyArray<ExTrack> }>(payload: Uint8Array, tag: T, encode: (tag: T) => Buffer) =>
  tag.tracks.length <= 1 || tag.multitrack === undefined
    ? tag.tracks.map((track) => ({ track, payload }))
    : tag.tracks.map((track) => ({ track, payload: encode({ ...tag, multitrack: AvMultitrackType.OneTrack, tracks: [track] }) as Uint8Array }))

export const splitVideoTracks = (payload: Uint8Array, tag: ExVideoTag) => splitTracks(payload, tag, encodeExVideo)

export const splitAudioTracks = (payload: Uint8Array, tag: ExAudioTag) => splitTracks(payload, tag, encodeExAudio)
