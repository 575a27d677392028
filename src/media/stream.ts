/**
 * One live stream (app + name): its publisher's state, the headers and GOP a late joiner needs, and the
 * plain-JS fan-out to its subscribers (viewers of any output, push relays, packagers). This is the
 * per-message hot path: no Effect, no Promise, no closure per message; it knows no wire protocol —
 * each subscriber takes the shared `MediaFrame` and asks it for its own format's bytes.
 */
import { AmfObject, type AmfValue, encodeAll } from "../protocol/amf0.js"
import { MediaFrame, TagType } from "./frame.js"
import { audioParts, legacyFrame, videoParts } from "./tracks.js"

/** What a stream needs from a subscriber. `Viewer` implements it for every output; embedders may bring their own. */
export interface StreamSubscriber {
  onPublish(stream: LiveStream): void
  onUnpublish(stream: LiveStream): void
  /** A new publisher replaced the old one without a gap: restart on its first keyframe, headers first. */
  onTakeover(stream: LiveStream): void
  onFrame(stream: LiveStream, frame: MediaFrame): void
  /** A data message (metadata update, cue point) to pass on as it is. */
  onData(stream: LiveStream, frame: MediaFrame): void
}

export interface GopCacheLimits {
  readonly enabled: boolean
  readonly maxFrames: number
  readonly maxBytes: number
}

export interface PublisherInfo {
  readonly connectionId: string
  /** Ends the publisher's connection, when a newer publisher takes the stream over. */
  readonly kick?: ((reason: string) => void) | undefined
  /** What the publisher proved to the authorizer; the same proof from a new connection takes over at once. */
  readonly credential?: string | undefined
  /** A cluster edge's copy of a stream that node `origin` ingests (not pushed on, not claimed). */
  readonly origin?: string | undefined
}

export class LiveStream {
  /** Everyone taking this stream's frames: viewers of every output, push relays. */
  readonly players = new Set<StreamSubscriber>()
  publisher: PublisherInfo | undefined = undefined
  /** `onMetaData` as a script-data frame, every field and its order kept. */
  metadata: MediaFrame | undefined = undefined
  /** The same metadata's fields, as the publisher sent them (for the API and codecs that need a size hint). */
  metadataFields: ReadonlyMap<string, unknown> = new Map()
  /** Decoder configurations per track id (E-RTMP multitrack); track 0 is the default track. */
  readonly videoHeaders = new Map<number, MediaFrame>()
  readonly audioHeaders = new Map<number, MediaFrame>()
  /** True once the current publisher sent any video: players then start on a keyframe. */
  hasVideo = false
  /** True once the current publisher sent any audio. */
  hasAudio = false
  /** Milliseconds between the last two keyframes of the default video track (how packagers size segments). */
  keyframeInterval: number | undefined = undefined
  private lastKeyframeAt: number | undefined = undefined
  /** Frames from the last keyframe on, while within limits; empty when there is none or it overflowed. */
  readonly gop: Array<MediaFrame> = []
  private gopBytes = 0
  private gopOverflowed = false
  /** Counters, sampled into metrics and stats. */
  framesIn = 0
  bytesIn = 0
  /** Frames viewers of this stream skipped because they could not keep up (all viewers, ever). */
  framesDropped = 0
  /** When the current publisher started (ms, the stream's clock); 0 while not live. */
  publishedAt = 0
  /** When the publisher last sent media (ms since the epoch), to tell a dead publisher from a live one. */
  lastMediaAt = 0
  /** The publisher was asked to reconnect (E-RTMP ReconnectRequest): its next connection takes over. */
  publisherMoving = false
  /**
   * The moving publisher's new connection, admitted but not yet sending: the old one keeps feeding the
   * stream until the new one's first frame, which takes the stream over (no frame lost in between).
   */
  incoming: PublisherInfo | undefined = undefined
  /** Added to every incoming timestamp, so a takeover continues the timeline instead of restarting it. */
  private timestampOffset = 0
  private rebaseOnNextMedia = false
  private lastTimestamp = 0

  constructor(
    readonly app: string,
    readonly name: string,
    readonly gopLimits: GopCacheLimits,
    /** The time in milliseconds; the server passes its Effect `Clock`, so the TestClock drives takeovers. */
    readonly now: () => number = Date.now
  ) {}

  /** The default track's video decoder configuration (what single-track outputs such as HLS package). */
  get videoHeader(): MediaFrame | undefined {
    return this.videoHeaders.get(0)
  }

  get audioHeader(): MediaFrame | undefined {
    return this.audioHeaders.get(0)
  }

  /** For logs and people: `app/name` (not unique when names contain '/'; the registry keys by the pair). */
  get key(): string {
    return `${this.app}/${this.name}`
  }

  get isLive(): boolean {
    return this.publisher !== undefined
  }

  startPublishing(publisher: PublisherInfo): void {
    this.publisher = publisher
    this.publishedAt = this.now()
    this.resetMedia()
    this.lastMediaAt = this.now() // a fresh publisher gets the grace period before its first frame
    for (const player of this.players) player.onPublish(this)
  }

  /**
   * A new publisher replaces the current one (an encoder that reconnected): players stay, start again
   * on its first keyframe with its sequence headers, and its timestamps continue where the old ones ended.
   */
  takeOver(publisher: PublisherInfo): PublisherInfo | undefined {
    const previous = this.publisher
    this.publisher = publisher
    this.resetMedia()
    this.lastMediaAt = this.now()
    this.rebaseOnNextMedia = true
    for (const player of this.players) player.onTakeover(this)
    return previous
  }

  /**
   * Whether media from `publisher` feeds this stream now. The first media of an `incoming` publisher takes
   * the stream over from the one that was asked to reconnect; the previous publisher is returned through
   * `onHandover` so its connection can be closed.
   */
  acceptsMediaFrom(publisher: PublisherInfo, onHandover: (previous: PublisherInfo) => void): boolean {
    if (this.publisher === publisher) return true
    if (this.incoming !== publisher) return false
    const previous = this.takeOver(publisher)
    if (previous !== undefined) onHandover(previous)
    return true
  }

  stopPublishing(): void {
    this.publisher = undefined
    this.publishedAt = 0
    this.resetMedia()
    for (const player of this.players) player.onUnpublish(this)
  }

  private resetMedia(): void {
    this.publisherMoving = false
    this.incoming = undefined
    this.timestampOffset = 0
    this.rebaseOnNextMedia = false
    this.clearMetadata()
    this.videoHeaders.clear()
    this.audioHeaders.clear()
    this.hasVideo = false
    this.hasAudio = false
    this.clearGop()
    this.lastKeyframeAt = undefined
    this.keyframeInterval = undefined
  }

  private clearGop(): void {
    this.gop.length = 0
    this.gopBytes = 0
  }

  /**
   * Metadata from `@setDataFrame`/`onMetaData`: stored whole and sent to players now and at join.
   *
   * It always goes out at timestamp 0, whatever the publisher's clock says. libavformat's FLV demuxer
   * (behind ffmpeg's RTMP client, ffprobe, mpv, VLC) reads an `onMetaData` script tag as stream
   * properties only when its timestamp is 0; at any other time it opens a *subtitle* stream for it,
   * which breaks `-map 0` recordings. nginx-rtmp sends metadata at 0 for the same reason.
   */
  setMetadata(metadata: AmfValue): void {
    this.metadata = new MediaFrame(TagType.Script, 0, encodeAll(["onMetaData", metadata]), false, false)
    this.metadataFields = metadata instanceof AmfObject ? metadata.properties : new Map()
    for (const player of this.players) player.onData(this, this.metadata)
  }

  /** The picture size onMetaData announces, for codecs whose configuration record does not carry it (HEVC, AV1). */
  announcedSize(): { width?: number; height?: number } {
    const width = this.metadataFields.get("width")
    const height = this.metadataFields.get("height")
    return typeof width === "number" && typeof height === "number" ? { width, height } : {}
  }

  clearMetadata(): void {
    this.metadata = undefined
    this.metadataFields = new Map()
  }

  /** Other data messages (cue points, text) are relayed live and not cached. */
  publishData(payload: Uint8Array, timestamp: number): void {
    const frame = new MediaFrame(TagType.Script, timestamp, payload, false, false)
    for (const player of this.players) player.onData(this, frame)
  }

  /** The hot path: one audio or video message from the publisher. */
  publishMedia(typeId: number, incomingTimestamp: number, payload: Uint8Array): void {
    if (this.rebaseOnNextMedia) {
      this.rebaseOnNextMedia = false
      this.timestampOffset = (this.lastTimestamp + 1 - incomingTimestamp) >>> 0
    }
    const timestamp = (incomingTimestamp + this.timestampOffset) >>> 0
    this.lastTimestamp = timestamp
    this.lastMediaAt = this.now()
    this.framesIn++
    this.bytesIn += payload.length
    const video = typeId === TagType.Video
    if (video) this.hasVideo = true
    else this.hasAudio = true
    const legacy = legacyFrame(typeId, timestamp, payload)
    if (legacy !== undefined) {
      this.publishFrame(legacy)
      return
    }
    // E-RTMP: one part, nearly always; a multitrack batch is split into one frame per track.
    for (const part of video ? videoParts(payload) : audioParts(payload)) {
      this.publishFrame(new MediaFrame(typeId, timestamp, part.payload, part.keyframe, part.sequenceHeader, part.track, part.codec, part.enhanced))
    }
  }

  private publishFrame(frame: MediaFrame): void {
    const { typeId, timestamp } = frame
    if (frame.keyframe && frame.track === 0 && typeId === TagType.Video) {
      if (this.lastKeyframeAt !== undefined && timestamp > this.lastKeyframeAt) this.keyframeInterval = timestamp - this.lastKeyframeAt
      this.lastKeyframeAt = timestamp
    }
    if (frame.sequenceHeader) {
      ;(typeId === TagType.Video ? this.videoHeaders : this.audioHeaders).set(frame.track, frame)
    } else if (this.gopLimits.enabled) {
      this.cache(frame)
    }
    for (const player of this.players) player.onFrame(this, frame)
    // Every viewer has this frame's bytes now (or skipped it). Kept, they would live as long as the GOP
    // cache keeps the frame, beside its payload: a second copy of the GOP per wire format in use, old by
    // the time they die, so freed only by a major GC. A joining viewer's GOP burst encodes the GOP again,
    // once, and the viewers joining after it during that GOP share those bytes. Decoder configurations
    // go to every joiner and stay encoded.
    if (!frame.sequenceHeader) frame.forgetEncodings()
  }

  /** The GOP starts at a keyframe of the default track; other tracks' frames are kept in arrival order. */
  private cache(frame: MediaFrame): void {
    if (frame.keyframe && frame.track === 0) {
      this.clearGop()
      this.gopOverflowed = false
    } else if (this.gop.length === 0 || this.gopOverflowed) {
      return
    }
    if (this.gop.length >= this.gopLimits.maxFrames || this.gopBytes + frame.payload.length > this.gopLimits.maxBytes) {
      // A GOP too long to keep is dropped whole: a partial GOP cannot be decoded from its start.
      this.clearGop()
      this.gopOverflowed = true
      return
    }
    this.gop.push(frame)
    this.gopBytes += frame.payload.length
  }
}
