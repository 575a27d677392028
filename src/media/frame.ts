/**
 * One unit of a live stream, as every input hands it to the stream core and every output takes it:
 * an FLV-style tag (audio, video or script data) with its timestamp and the facts the viewer policy
 * needs (keyframe, decoder configuration). Its bytes on each wire format (RTMP chunks, FLV tags, …) are
 * encoded when the first viewer of that format asks, and the same Buffer goes to all of them. The stream
 * forgets a frame's encodings once it has been handed to every viewer (see `LiveStream.publishFrame`).
 * No Effect, no sockets, no protocol sessions: this is the hot path.
 */

/** Tag types as FLV and RTMP both number them (RTMP message types 8, 9 and 18). */
export const TagType = {
  Audio: 8,
  Video: 9,
  Script: 18
} as const
export type TagType = (typeof TagType)[keyof typeof TagType]

/** Whether `header` carries exactly the decoder configuration record `held` (a viewer, muxer or recording already has). */
export const sameConfig = (held: Uint8Array | undefined, header: MediaFrame): boolean => held !== undefined && Buffer.compare(held, header.payload) === 0

/** A way of putting frames on the wire. Each has a slot in every frame's byte cache. */
export interface WireFormat {
  readonly name: string
  readonly slot: number
  readonly encode: (frame: MediaFrame) => Buffer
}

let slots = 0

/** Defines a wire format once (at module load or per configuration); formats are never freed. */
export const defineWireFormat = (name: string, encode: (frame: MediaFrame) => Buffer): WireFormat => ({
  name,
  slot: slots++,
  encode
})

export class MediaFrame {
  /** Made on the first encoding: most frames of an ingest-only server are never encoded. */
  private wire: Array<Buffer | undefined> | undefined = undefined

  constructor(
    /** 8 audio, 9 video, 18 script data. */
    readonly typeId: number,
    /** Decoding time in milliseconds (32 bits, wrapping). */
    readonly timestamp: number,
    /** The tag body: FLV audio/video tag data or AMF0 script values, exactly as the publisher sent it. */
    readonly payload: Uint8Array,
    readonly keyframe: boolean,
    /** A decoder configuration (AVC/HEVC/AV1 record, AAC AudioSpecificConfig, …), not media. */
    readonly sequenceHeader: boolean,
    /** E-RTMP track id; 0 is the default track (and every legacy message's). */
    readonly track: number = 0,
    /** The codec as a FourCC (`avc1`, `hvc1`, `mp4a`, `Opus`, …); empty for script data or when unknown. */
    readonly codec: string = "",
    /** E-RTMP bytes, which a legacy player cannot parse. */
    readonly enhanced: boolean = false
  ) {}

  /** Drops the encodings made so far; the next caller of `bytes` encodes again. */
  forgetEncodings(): void {
    this.wire = undefined
  }

  /** This frame's bytes in `format`, encoded on first use and shared by every later caller. */
  bytes(format: WireFormat): Buffer {
    const wire = (this.wire ??= [])
    let bytes = wire[format.slot]
    if (bytes === undefined) {
      bytes = format.encode(this)
      wire[format.slot] = bytes
    }
    return bytes
  }
}
