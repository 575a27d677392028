/**
 * A player of one live stream: start-up order (headers, then media from a keyframe), receiveAudio /
 * receiveVideo / pause, and the slow-consumer policy. A player whose socket queue grows past the soft
 * limit skips to the next keyframe; past the hard limit, or when it has been skipping for longer than
 * the allowed lag, it is disconnected. It never slows the publisher or other players.
 *
 * In "publish" mode the same logic feeds a push relay: the peer is a server we publish to, so there are
 * no play notifications, and metadata goes out as `@setDataFrame`.
 */
import { encodeMessage } from "../protocol/chunk-writer.js"
import { chunkStreamFor, MessageType, type UserControl } from "../protocol/messages.js"
import type { LiveStream, MediaFrame, StreamSubscriber } from "./stream.js"

export interface PlayerTransport {
  /** Writes bytes to the player's socket (pre-encoded, possibly shared with other players). */
  write(bytes: Buffer): void
  /** Bytes handed to the socket but not yet to the kernel. */
  queuedBytes(): number
  status(streamId: number, level: "status" | "error", code: string, description: string): void
  userControl(control: Exclude<UserControl, { event: "unknown" }>): void
  /** Ends the player's connection, with a reason for the log. */
  disconnect(reason: string): void
}

export interface PlayerLimits {
  readonly softBytes: number
  readonly hardBytes: number
  readonly maxLagMillis: number
}

export class Player implements StreamSubscriber {
  private waitingForKeyframe = true
  private headersSent = false
  private laggingSince = 0
  /**
   * The decoder configurations this player has, so an identical one is not sent again: after a takeover
   * (an encoder reconnecting with the same settings) or from encoders that repeat them before keyframes.
   * libavformat turns every repeated header into "new extradata", which some muxers mishandle (`-c copy`
   * into Matroska rewrites its AAC CodecPrivate and corrupts the file).
   */
  /**
   * The join burst (the cached GOP) is queued on purpose, so it is credit against the queue limits:
   * the limits apply to what is queued beyond it. The credit shrinks with the queue (never grows back),
   * so it is gone once the viewer has caught up. Without it a viewer joining a large GOP (2.5 MB at
   * 10 Mbit/s) would be over the soft limit at once and skip the very GOP it was sent. The queue stays
   * bounded: by the GOP cache's byte limit plus the hard limit.
   */
  private burstCredit = 0
  private videoConfig: Uint8Array | undefined = undefined
  private audioConfig: Uint8Array | undefined = undefined
  receiveAudio = true
  receiveVideo = true
  paused = false
  closed = false
  /** Frames skipped because this player could not keep up. */
  droppedFrames = 0

  constructor(
    readonly streamId: number,
    private readonly transport: PlayerTransport,
    private readonly limits: PlayerLimits,
    readonly mode: "play" | "publish" = "play"
  ) {}

  /** Called once the play request was answered: joins at once from the GOP cache when there is one. */
  start(stream: LiveStream): void {
    if (stream.isLive) this.joinLive(stream)
  }

  onPublish(stream: LiveStream): void {
    if (this.closed) return
    if (this.mode === "publish") return this.joinLive(stream)
    this.transport.userControl({ event: 0, streamId: this.streamId })
    this.transport.status(this.streamId, "status", "NetStream.Play.PublishNotify", `${stream.name} is now published`)
    this.joinLive(stream)
  }

  onUnpublish(stream: LiveStream): void {
    if (this.closed) return
    if (this.mode === "play") {
      this.transport.status(this.streamId, "status", "NetStream.Play.UnpublishNotify", `${stream.name} is now unpublished`)
      this.transport.userControl({ event: 1, streamId: this.streamId })
    }
    this.waitingForKeyframe = true
    this.headersSent = false
    // A new publishing session may bring a new decoder: it gets its headers again, whatever they are.
    this.videoConfig = undefined
    this.audioConfig = undefined
  }

  onTakeover(stream: LiveStream): void {
    if (!this.closed) this.joinLive(stream)
  }

  private joinLive(stream: LiveStream): void {
    this.waitingForKeyframe = true
    this.headersSent = false
    const first = stream.gop[0]
    if (first === undefined || this.paused) return
    this.sendHeaders(stream, first.timestamp)
    let burst = 0
    for (const frame of stream.gop) {
      if (!this.wants(frame)) continue
      const bytes = frame.encode(this.streamId, stream.chunkSize)
      burst += bytes.length
      this.transport.write(bytes)
    }
    this.burstCredit = burst
    this.waitingForKeyframe = false
  }

  /** Bytes queued to this player that count against its limits: all of them, less the join burst's credit. */
  private backlog(): number {
    const queued = this.transport.queuedBytes()
    if (this.burstCredit > queued) this.burstCredit = queued
    return queued - this.burstCredit
  }

  setReceiveVideo(stream: LiveStream, enabled: boolean): void {
    this.receiveVideo = enabled
    if (enabled) this.waitingForKeyframe = stream.hasVideo || this.waitingForKeyframe
  }

  setPaused(stream: LiveStream, paused: boolean): void {
    this.paused = paused
    if (!paused) this.waitingForKeyframe = stream.hasVideo || !this.headersSent
  }

  private wants(frame: MediaFrame): boolean {
    return frame.typeId === MessageType.Video ? this.receiveVideo : this.receiveAudio
  }

  private sendHeaders(stream: LiveStream, timestamp: number): void {
    const metadata = this.mode === "play" ? stream.metadata : stream.publishMetadata
    // Metadata keeps its own timestamp (0, see `LiveStream.setMetadata`); sequence headers take the first frame's.
    if (metadata !== undefined) this.transport.write(metadata.encode(this.streamId, stream.chunkSize))
    for (const header of [stream.videoHeader, stream.audioHeader]) {
      if (header === undefined || !this.wants(header) || !this.isNewConfig(header)) continue
      this.transport.write(encodeMessage(chunkStreamFor(header.typeId), header.typeId, this.streamId, timestamp, header.payload, stream.chunkSize))
    }
    this.headersSent = true
  }

  /** Records `header` as this player's decoder configuration; false when it already had exactly this one. */
  private isNewConfig(header: MediaFrame): boolean {
    const video = header.typeId === MessageType.Video
    const current = video ? this.videoConfig : this.audioConfig
    if (current !== undefined && Buffer.compare(current, header.payload) === 0) return false
    if (video) this.videoConfig = header.payload
    else this.audioConfig = header.payload
    return true
  }

  onFrame(stream: LiveStream, frame: MediaFrame): void {
    if (this.closed || this.paused) return
    if (frame.sequenceHeader) {
      // A new decoder configuration mid-stream goes out at once; players still starting get it with the headers.
      if (this.headersSent && this.wants(frame) && this.isNewConfig(frame)) this.transport.write(frame.encode(this.streamId, stream.chunkSize))
      return
    }
    if (!this.wants(frame)) return
    const queued = this.backlog()
    if (queued > this.limits.hardBytes) {
      this.disconnect(`queue of ${queued} bytes exceeds the hard limit of ${this.limits.hardBytes}`)
      return
    }
    if (this.waitingForKeyframe) {
      const needsKeyframe = stream.hasVideo && this.receiveVideo
      const canStart = needsKeyframe ? frame.keyframe : true
      if (!canStart || queued > this.limits.softBytes) {
        if (queued > this.limits.softBytes) this.lagging()
        return
      }
      if (!this.headersSent) this.sendHeaders(stream, frame.timestamp)
      this.waitingForKeyframe = false
      this.laggingSince = 0
    } else if (queued > this.limits.softBytes) {
      this.droppedFrames++
      this.waitingForKeyframe = stream.hasVideo && this.receiveVideo
      this.lagging()
      return
    }
    this.transport.write(frame.encode(this.streamId, stream.chunkSize))
  }

  onData(stream: LiveStream, frame: MediaFrame): void {
    if (this.closed || this.paused || !this.headersSent) return
    const form = this.mode === "publish" && frame === stream.metadata ? stream.publishMetadata : frame
    this.transport.write((form ?? frame).encode(this.streamId, stream.chunkSize))
  }

  private lagging(): void {
    const now = Date.now()
    if (this.laggingSince === 0) this.laggingSince = now
    else if (now - this.laggingSince > this.limits.maxLagMillis) {
      this.disconnect(`behind for more than ${this.limits.maxLagMillis} ms`)
    }
  }

  private disconnect(reason: string): void {
    this.closed = true
    this.transport.disconnect(`player too slow: ${reason}`)
  }
}
