/**
 * The FLV wire format (HTTP-FLV and WebSocket-FLV share it) and the FLV sink: an FLV file header whose
 * audio/video flags match the stream, then tags. Every FLV viewer of a stream gets the same tag Buffers.
 * An FLV stream cannot start over, so the viewer's connection ends when the publisher does: players
 * (mpegts.js, flv.js, ffmpeg) reconnect, as they do with every HTTP-FLV server.
 */
import { encodeFlvHeader, encodeFlvTag } from "../protocol/flv.js"
import { defineWireFormat, type MediaFrame } from "../media/frame.js"
import type { LiveStream } from "../media/stream.js"
import type { Sink } from "../media/viewer.js"

export const FLV_TAGS = defineWireFormat("flv", (frame) => encodeFlvTag(frame.typeId, frame.timestamp, frame.payload))

/**
 * The FLV file header for `stream`, its flags matching the tracks the publisher has sent: one not sent yet
 * counts as absent, and with neither known both are announced (players wait for the tracks announced).
 */
export const flvHeaderFor = (stream: LiveStream): Buffer => {
  const hasVideo = stream.videoHeader !== undefined || stream.hasVideo
  const hasAudio = stream.audioHeader !== undefined || stream.hasAudio
  return encodeFlvHeader(hasAudio || !hasVideo, hasVideo || !hasAudio)
}

/** The connection an FLV sink writes to: an HTTP response body or a WebSocket. */
export interface FlvTransport {
  write(bytes: Buffer): void
  queuedBytes(): number
  /** Ends the connection; `graceful` lets queued bytes go out first. */
  end(reason: string, graceful: boolean): void
}

export class FlvSink implements Sink {
  private headerSent = false
  /** Bytes handed to the transport, for the API and metrics. */
  bytesOut = 0

  constructor(
    private readonly transport: FlvTransport,
    readonly protocol: "http-flv" | "ws-flv"
  ) {}

  start(stream: LiveStream): void {
    if (this.headerSent) return
    this.headerSent = true
    this.send(flvHeaderFor(stream))
  }

  write(frame: MediaFrame, timestamp?: number): void {
    this.send(timestamp === undefined ? frame.bytes(FLV_TAGS) : encodeFlvTag(frame.typeId, timestamp, frame.payload))
  }

  queuedBytes(): number {
    return this.transport.queuedBytes()
  }

  close(reason: string): void {
    this.transport.end(reason, false)
  }

  unpublished(): void {
    this.transport.end("the publisher stopped", true)
  }

  private send(bytes: Buffer): void {
    this.bytesOut += bytes.length
    this.transport.write(bytes)
  }
}
