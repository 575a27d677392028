/**
 * The FLV wire formats and the FLV sink: an FLV file header whose audio/video flags match the stream, then
 * tags — as the body of an HTTP response (HTTP-FLV), or each in one binary WebSocket message (WS-FLV, what
 * flv.js and mpegts.js read). Every FLV viewer of a stream gets the same Buffers as the others of its
 * transport: a tag and its WebSocket frame are encoded once, not by each viewer's connection.
 * An FLV stream cannot start over, so the viewer's connection ends when the publisher does: players
 * (mpegts.js, flv.js, ffmpeg) reconnect, as they do with every HTTP-FLV server.
 */
import { encodeFlvHeader, encodeFlvTag, flvTagLength } from "../protocol/flv.js"
import { wsBinaryHeaderLength, wsBinaryMessage, writeWsBinaryHeader } from "../protocol/websocket.js"
import { defineWireFormat, type MediaFrame } from "../media/frame.js"
import type { LiveStream } from "../media/stream.js"
import type { Sink } from "../media/viewer.js"

export const FLV_TAGS = defineWireFormat("flv", (frame) => encodeFlvTag(frame.typeId, frame.timestamp, frame.payload))

/** An FLV tag as one binary WebSocket message: the frame header is written into the tag's headroom. */
const encodeWsFlvTag = (typeId: number, timestamp: number, payload: Uint8Array): Buffer => {
  const length = flvTagLength(payload.length)
  const message = encodeFlvTag(typeId, timestamp, payload, wsBinaryHeaderLength(length))
  writeWsBinaryHeader(message, length)
  return message
}

export const WS_FLV_TAGS = defineWireFormat("ws-flv", (frame) => encodeWsFlvTag(frame.typeId, frame.timestamp, frame.payload))

/**
 * The FLV file header for `stream`, its flags matching the tracks the publisher has sent: one not sent yet
 * counts as absent, and with neither known both are announced (players wait for the tracks announced).
 */
export const flvHeaderFor = (stream: LiveStream): Buffer => {
  const hasVideo = stream.videoHeader !== undefined || stream.hasVideo
  const hasAudio = stream.audioHeader !== undefined || stream.hasAudio
  return encodeFlvHeader(hasAudio || !hasVideo, hasVideo || !hasAudio)
}

/** The connection an FLV sink writes to: an HTTP response body, or a WebSocket's socket (messages framed). */
export interface FlvTransport {
  write(bytes: Buffer): void
  queuedBytes(): number
  /** Ends the connection; `graceful` lets queued bytes go out first. */
  end(reason: string, graceful: boolean): void
}

export class FlvSink implements Sink {
  private headerSent = false
  /**
   * Its connection was told to end (the publisher stopped, or the viewer was too slow). The viewer leaves the
   * stream only once the connection is gone — for a WebSocket after the close handshake — so a publisher that
   * comes back meanwhile would otherwise write media after the end: behind a WebSocket's close frame.
   */
  private ended = false
  /** Bytes handed to the transport (WebSocket framing included), for the API and metrics. */
  bytesOut = 0
  private readonly websocket: boolean

  constructor(
    private readonly transport: FlvTransport,
    readonly protocol: "http-flv" | "ws-flv"
  ) {
    this.websocket = protocol === "ws-flv"
  }

  start(stream: LiveStream): void {
    if (this.headerSent) return
    this.headerSent = true
    const header = flvHeaderFor(stream)
    this.send(this.websocket ? wsBinaryMessage(header) : header)
  }

  write(frame: MediaFrame, timestamp?: number): void {
    if (timestamp === undefined) this.send(frame.bytes(this.websocket ? WS_FLV_TAGS : FLV_TAGS))
    else this.send((this.websocket ? encodeWsFlvTag : encodeFlvTag)(frame.typeId, timestamp, frame.payload))
  }

  queuedBytes(): number {
    return this.transport.queuedBytes()
  }

  close(reason: string): void {
    this.ended = true
    this.transport.end(reason, false)
  }

  unpublished(): void {
    this.ended = true
    this.transport.end("the publisher stopped", true)
  }

  private send(bytes: Buffer): void {
    if (this.ended) return
    this.bytesOut += bytes.length
    this.transport.write(bytes)
  }
}
