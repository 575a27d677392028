/**
 * The RTMP wire format and the two RTMP sinks: a player of a local stream (it is told of publish and
 * unpublish with StreamBegin/PublishNotify and UnpublishNotify/StreamEOF) and a push relay publishing a
 * local stream to another server (metadata goes out as `@setDataFrame`, nothing is announced).
 */
import { encodeAll } from "../protocol/amf0.js"
import { encodeMessage } from "../protocol/chunk-writer.js"
import { chunkStreamFor, type UserControl } from "../protocol/messages.js"
import { defineWireFormat, type MediaFrame, TagType, type WireFormat } from "../media/frame.js"
import type { LiveStream } from "../media/stream.js"
import type { Sink } from "../media/viewer.js"

/** The message stream id nearly every player gets from its first createStream; frames are pre-encoded for it. */
export const SHARED_STREAM_ID = 1

const formats = new Map<number, WireFormat>()

/** RTMP chunks of a frame on message stream 1 at `chunkSize`: one format per chunk size in use (one, normally). */
export const rtmpChunks = (chunkSize: number): WireFormat => {
  let format = formats.get(chunkSize)
  if (format === undefined) {
    format = defineWireFormat(`rtmp-${chunkSize}`, (frame) =>
      encodeMessage(chunkStreamFor(frame.typeId), frame.typeId, SHARED_STREAM_ID, frame.timestamp, frame.payload, chunkSize)
    )
    formats.set(chunkSize, format)
  }
  return format
}

/** The connection an RTMP sink writes to. */
export interface RtmpTransport {
  /** Writes bytes to the socket (pre-encoded, possibly shared with other players). */
  write(bytes: Buffer): void
  /** Bytes handed to the socket but not yet to the kernel. */
  queuedBytes(): number
  /** Ends the connection, with a reason for the log. */
  disconnect(reason: string): void
}

/** What a player connection says about the stream (sent through its session). */
export interface PlayerAnnouncements {
  status(streamId: number, level: "status" | "error", code: string, description: string): void
  userControl(control: Exclude<UserControl, { event: "unknown" }>): void
}

abstract class RtmpSink implements Sink {
  abstract readonly protocol: string
  private readonly shared: WireFormat

  constructor(
    readonly streamId: number,
    private readonly chunkSize: number,
    protected readonly transport: RtmpTransport
  ) {
    this.shared = rtmpChunks(chunkSize)
  }

  write(frame: MediaFrame, timestamp?: number): void {
    this.transport.write(
      timestamp === undefined && this.streamId === SHARED_STREAM_ID ? frame.bytes(this.shared) : this.encode(frame, frame.payload, timestamp ?? frame.timestamp)
    )
  }

  protected encode(frame: MediaFrame, payload: Uint8Array, timestamp: number): Buffer {
    return encodeMessage(chunkStreamFor(frame.typeId), frame.typeId, this.streamId, timestamp, payload, this.chunkSize)
  }

  queuedBytes(): number {
    return this.transport.queuedBytes()
  }

  close(reason: string): void {
    this.transport.disconnect(reason)
  }
}

/** A player on an RTMP connection. */
export class RtmpPlaySink extends RtmpSink {
  readonly protocol = "rtmp"
  constructor(streamId: number, chunkSize: number, transport: RtmpTransport, private readonly announce: PlayerAnnouncements) {
    super(streamId, chunkSize, transport)
  }

  published(stream: LiveStream): void {
    this.announce.userControl({ event: 0, streamId: this.streamId })
    this.announce.status(this.streamId, "status", "NetStream.Play.PublishNotify", `${stream.name} is now published`)
  }

  unpublished(stream: LiveStream): void {
    this.announce.status(this.streamId, "status", "NetStream.Play.UnpublishNotify", `${stream.name} is now unpublished`)
    this.announce.userControl({ event: 1, streamId: this.streamId })
  }
}

/** `@setDataFrame` as AMF0, put before `onMetaData` when publishing metadata to a server. */
const SET_DATA_FRAME = encodeAll(["@setDataFrame"])

/** A push relay: publishes the stream it views to a remote server. */
export class RtmpPublishSink extends RtmpSink {
  readonly protocol = "push"
  override write(frame: MediaFrame, timestamp?: number): void {
    if (frame.typeId === TagType.Script) {
      // A server stores metadata only when it comes as `@setDataFrame`; other data goes as it is.
      const payload = isMetadata(frame.payload) ? Buffer.concat([SET_DATA_FRAME, frame.payload]) : frame.payload
      this.transport.write(this.encode(frame, payload, timestamp ?? frame.timestamp))
      return
    }
    super.write(frame, timestamp)
  }
}

const ON_METADATA = encodeAll(["onMetaData"])
const isMetadata = (payload: Uint8Array): boolean =>
  payload.length >= ON_METADATA.length && Buffer.compare(ON_METADATA, payload.subarray(0, ON_METADATA.length)) === 0
