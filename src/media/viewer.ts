/**
 * A viewer of one live stream, whatever the output: the start-up order (metadata, decoder configurations,
 * then media from a keyframe, the cached GOP first), receiveAudio / receiveVideo / pause, and the
 * slow-consumer policy. A viewer whose queue grows past the soft limit skips to the next keyframe; past
 * the hard limit, or when it has been skipping for longer than the allowed lag, it is closed. It never
 * slows the publisher or other viewers. What a wire protocol adds (RTMP's PublishNotify, an FLV file
 * header) lives in its `Sink`.
 */
import { type LiveStream, type StreamSubscriber } from "./stream.js"
import { type MediaFrame, sameConfig, TagType } from "./frame.js"
import type { TrackFilter } from "./tracks.js"

/** Where a viewer's frames go: one connection, in one wire format. */
export interface Sink {
  /** What kind of viewer this is, for counts in the API and metrics: `rtmp`, `http-flv`, `ws-flv`, `push`. */
  readonly protocol: string
  /**
   * Writes `frame` in this sink's wire format: the frame's shared bytes (`frame.bytes(format)`), or its own
   * encoding when `timestamp` moves it (decoder configurations at join go out at the GOP's time).
   */
  write(frame: MediaFrame, timestamp?: number): void
  /** Bytes handed to the connection but not yet to the kernel. */
  queuedBytes(): number
  /** Ends the connection, with a reason for the log. */
  close(reason: string): void
  /** The viewer (re)starts on the stream's media: about to send headers. FLV writes its file header here. */
  start?(stream: LiveStream): void
  /** The stream went live / ended while this viewer was on it (RTMP announces both; HTTP-FLV ends). */
  published?(stream: LiveStream): void
  unpublished?(stream: LiveStream): void
}

export interface ViewerLimits {
  /** Queued bytes above which the viewer skips to the next keyframe. */
  readonly softBytes: number
  /** Queued bytes above which it is closed. */
  readonly hardBytes: number
  /** A viewer that has been skipping this long is closed. */
  readonly maxLagMillis: number
}

export class Viewer implements StreamSubscriber {
  private waitingForKeyframe = true
  private headersSent = false
  private laggingSince = 0
  /**
   * The join burst (the cached GOP) is queued on purpose, so it is credit against the queue limits:
   * the limits apply to what is queued beyond it. The credit shrinks with the queue (never grows back),
   * so it is gone once the viewer has caught up. Without it a viewer joining a large GOP (2.5 MB at
   * 10 Mbit/s) would be over the soft limit at once and skip the very GOP it was sent. The queue stays
   * bounded: by the GOP cache's byte limit plus the hard limit.
   */
  private burstCredit = 0
  /**
   * The decoder configurations this viewer has, so an identical one is not sent again: after a takeover
   * (an encoder reconnecting with the same settings) or from encoders that repeat them before keyframes.
   * libavformat turns every repeated header into "new extradata", which some muxers mishandle (`-c copy`
   * into Matroska rewrites its AAC CodecPrivate and corrupts the file).
   */
  private readonly configs = new Map<number, Uint8Array>()
  /** Tracks other than 0 whose first keyframe this viewer got (they start on their own keyframes). */
  private readonly startedTracks = new Set<number>()
  /**
   * What this viewer can decode (from its connect's `fourCcList` / capsEx for RTMP); undefined takes all.
   * Set before `start`.
   */
  filter: TrackFilter | undefined = undefined
  receiveAudio = true
  receiveVideo = true
  paused = false
  closed = false
  /**
   * False until `start`: a viewer joins the stream first and starts once its protocol has answered the
   * request (RTMP's Play.Start), so nothing reaches it out of order in between. False again once closed.
   */
  private active = false
  /** A sink to move to at the next cut point (see `moveTo`), and what to call once moved. */
  private moving: { readonly sink: Sink; readonly moved: () => void } | undefined = undefined
  /** Frames skipped because this viewer could not keep up. */
  droppedFrames = 0
  /** Media frames handed to the sink. */
  framesOut = 0

  constructor(
    /** Where frames go; replaced only by `moveTo`. */
    public sink: Sink,
    private readonly limits: ViewerLimits,
    /** The time in milliseconds; the server passes its Effect `Clock`. */
    private readonly now: () => number = Date.now
  ) {}

  /** Called once the request was answered: joins at once (from the GOP cache when there is one) if the stream is live. */
  start(stream: LiveStream): void {
    if (this.closed) return
    this.active = true
    if (stream.isLive) this.joinLive(stream)
  }

  /**
   * Moves this viewer to `next` without a gap or a duplicate (a push relay asked to reconnect): frames go to
   * the current sink up to the next keyframe of the default track (any audio frame, for an audio-only
   * stream); from there `next` gets metadata and decoder configurations first, then that frame and the rest.
   */
  moveTo(next: Sink, moved: () => void): void {
    this.moving = { sink: next, moved }
  }

  /** Leaves for good: nothing more is written, whatever the stream does. */
  stop(): void {
    this.closed = true
    this.active = false
  }

  onPublish(stream: LiveStream): void {
    if (!this.active) return
    this.sink.published?.(stream)
    if (this.active) this.joinLive(stream)
  }

  onUnpublish(stream: LiveStream): void {
    if (!this.active) return
    this.sink.unpublished?.(stream)
    this.waitingForKeyframe = true
    this.headersSent = false
    // A new publishing session may bring a new decoder: it gets its headers again, whatever they are.
    this.configs.clear()
  }

  onTakeover(stream: LiveStream): void {
    if (this.active) this.joinLive(stream)
  }

  private joinLive(stream: LiveStream): void {
    this.waitingForKeyframe = true
    this.headersSent = false
    this.startedTracks.clear()
    const first = stream.gop[0]
    if (first === undefined || this.paused) return
    this.sendHeaders(stream, first.timestamp)
    const before = this.sink.queuedBytes()
    for (const frame of stream.gop) {
      if (!this.wants(frame) || !this.trackStarted(frame)) continue
      this.sink.write(frame)
      this.framesOut++
    }
    this.burstCredit = this.sink.queuedBytes() - before
    this.waitingForKeyframe = false
  }

  setReceiveVideo(stream: LiveStream, enabled: boolean): void {
    this.receiveVideo = enabled
    if (enabled) this.waitingForKeyframe = this.needsKeyframe(stream) || this.waitingForKeyframe
  }

  setPaused(stream: LiveStream, paused: boolean): void {
    this.paused = paused
    if (!paused) this.waitingForKeyframe = this.needsKeyframe(stream) || !this.headersSent
  }

  private wants(frame: MediaFrame): boolean {
    if (this.filter !== undefined && !this.filter.accepts(frame.typeId, frame.track, frame.codec, frame.enhanced)) return false
    return frame.typeId === TagType.Video ? this.receiveVideo : this.receiveAudio
  }

  /** Video of a track other than 0 starts at that track's own keyframe. */
  private trackStarted(frame: MediaFrame): boolean {
    if (frame.track === 0 || frame.typeId !== TagType.Video || this.startedTracks.has(frame.track)) return true
    if (!frame.keyframe) return false
    this.startedTracks.add(frame.track)
    return true
  }

  /** Whether this viewer must wait for a keyframe: it takes the stream's default video track. */
  private needsKeyframe(stream: LiveStream): boolean {
    if (!stream.hasVideo || !this.receiveVideo) return false
    const header = stream.videoHeader
    return header === undefined || this.filter === undefined || this.filter.accepts(header.typeId, header.track, header.codec, header.enhanced)
  }

  private sendHeaders(stream: LiveStream, timestamp: number): void {
    this.sink.start?.(stream)
    // Metadata keeps its own timestamp (0, see `LiveStream.setMetadata`); decoder configurations take the first frame's.
    if (stream.metadata !== undefined) this.sink.write(stream.metadata)
    for (const headers of [stream.videoHeaders, stream.audioHeaders]) {
      for (const header of headers.values()) if (this.wants(header) && this.isNewConfig(header)) this.sink.write(header, timestamp)
    }
    this.headersSent = true
  }

  /** Records `header` as this viewer's decoder configuration; false when it already had exactly this one. */
  private isNewConfig(header: MediaFrame): boolean {
    const key = header.typeId * 256 + header.track
    const current = this.configs.get(key)
    if (sameConfig(current, header)) return false
    this.configs.set(key, header.payload)
    return true
  }

  /** Bytes queued to this viewer that count against its limits: all of them, less the join burst's credit. */
  private backlog(): number {
    const queued = this.sink.queuedBytes()
    if (this.burstCredit > queued) this.burstCredit = queued
    return queued - this.burstCredit
  }

  onFrame(stream: LiveStream, frame: MediaFrame): void {
    if (!this.active || this.paused) return
    if (frame.sequenceHeader) {
      // A new decoder configuration mid-stream goes out at once; viewers still starting get it with the headers.
      if (this.headersSent && this.wants(frame) && this.isNewConfig(frame)) this.sink.write(frame)
      return
    }
    if (!this.wants(frame)) return
    const queued = this.backlog()
    if (queued > this.limits.hardBytes) {
      this.close(`queue of ${queued} bytes exceeds the hard limit of ${this.limits.hardBytes}`)
      return
    }
    if (this.waitingForKeyframe) {
      const canStart = this.needsKeyframe(stream) ? frame.keyframe && frame.track === 0 : true
      if (!canStart || queued > this.limits.softBytes) {
        if (queued > this.limits.softBytes) this.lagging()
        return
      }
      if (!this.headersSent) this.sendHeaders(stream, frame.timestamp)
      this.waitingForKeyframe = false
      this.startedTracks.clear()
      this.laggingSince = 0
    } else if (queued > this.limits.softBytes) {
      this.droppedFrames++
      stream.framesDropped++
      this.waitingForKeyframe = this.needsKeyframe(stream)
      this.lagging()
      return
    }
    if (frame.track !== 0 && !this.trackStarted(frame)) return
    if (this.moving !== undefined && frame.track === 0 && (stream.hasVideo ? frame.typeId === TagType.Video && frame.keyframe : frame.typeId === TagType.Audio)) {
      const { sink, moved } = this.moving
      this.moving = undefined
      this.sink = sink
      this.configs.clear() // the new connection has no decoder configuration yet
      this.sendHeaders(stream, frame.timestamp)
      moved()
    }
    this.sink.write(frame)
    this.framesOut++
  }

  onData(_stream: LiveStream, frame: MediaFrame): void {
    if (!this.active || this.paused || !this.headersSent) return
    this.sink.write(frame)
  }

  private lagging(): void {
    const now = this.now()
    if (this.laggingSince === 0) this.laggingSince = now
    else if (now - this.laggingSince > this.limits.maxLagMillis) {
      this.close(`behind for more than ${this.limits.maxLagMillis} ms`)
    }
  }

  private close(reason: string): void {
    this.stop()
    this.sink.close(`viewer too slow: ${reason}`)
  }
}
