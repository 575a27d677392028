/**
 * Server side of one RTMP connection after the handshake, sans-IO: bytes in, requests and media out,
 * bytes out through `send`. It answers the protocol itself (chunk size, acknowledgements, pings,
 * createStream, releaseStream/FCPublish/getStreamLength/…, unknown commands) and hands the decisions
 * that need the registry (connect, publish, play, stream close) to its handler as requests. While a
 * request is being handled the session is paused: later bytes wait, so the order of commands and media
 * is kept (a publish is accepted before its first frame is routed).
 */
import { type AmfValue, AmfObject, amfObject, encodeAll, numberProperty, stringProperty } from "../protocol/amf0.js"
import { ChunkReader, type ChunkReaderLimits, type RtmpMessage } from "../protocol/chunk-reader.js"
import { ChunkWriter } from "../protocol/chunk-writer.js"
import { MessageDecodeError } from "../protocol/errors.js"
import {
  AcknowledgementWindow,
  ChunkStreamId,
  type Command,
  decodeCommand,
  decodeData,
  decodeU32Payload,
  decodeUserControl,
  encodeAcknowledgement,
  encodeCommand,
  encodeSetChunkSize,
  encodeSetPeerBandwidth,
  encodeUserControl,
  encodeWindowAckSize,
  MessageType,
  PeerBandwidthLimit,
  type UserControl
} from "../protocol/messages.js"

export type SessionRequest =
  | {
      readonly _tag: "Connect"
      readonly transactionId: number
      readonly app: string | undefined
      readonly tcUrl: string | undefined
      readonly objectEncoding: number
      readonly commandObject: AmfValue
    }
  | {
      readonly _tag: "Publish"
      readonly transactionId: number
      readonly streamId: number
      readonly name: string
      readonly query: string
      readonly publishType: string
    }
  | {
      readonly _tag: "Play"
      readonly transactionId: number
      readonly streamId: number
      readonly name: string
      readonly query: string
      readonly start: number
      readonly reset: boolean
    }
  /** closeStream/deleteStream (by stream id) or FCUnpublish (by name). */
  | { readonly _tag: "CloseStream"; readonly streamId: number; readonly deleted: boolean }
  | { readonly _tag: "Unpublish"; readonly name: string }
  | { readonly _tag: "ReceiveMedia"; readonly streamId: number; readonly kind: "audio" | "video"; readonly enabled: boolean }
  | { readonly _tag: "Pause"; readonly streamId: number; readonly paused: boolean }

export interface ServerSessionHandler {
  /** A decision for the connection. The session stays paused until `resume()`. */
  request(request: SessionRequest): void
  /** Audio or video from the peer (the hot path; synchronous). */
  media(message: RtmpMessage): void
  /** A data message (AMF values, `@setDataFrame` already removed and flagged). */
  data(streamId: number, values: ReadonlyArray<AmfValue>, setDataFrame: boolean, timestamp: number): void
}

export interface ServerSessionOptions {
  readonly chunkSize: number
  readonly windowAckSize: number
  readonly peerBandwidth: number
  readonly maxStreams: number
  readonly limits: ChunkReaderLimits
}

export const FMS_VERSION = "FMS/3,5,7,7009"

/** Splits `name?query` the way nginx-rtmp does: the name identifies the stream, the query is for auth. */
export const splitStreamName = (raw: string): { readonly name: string; readonly query: string } => {
  const at = raw.indexOf("?")
  return at < 0 ? { name: raw, query: "" } : { name: raw.slice(0, at), query: raw.slice(at + 1) }
}

export class ServerSession {
  readonly reader: ChunkReader
  readonly writer: ChunkWriter
  private paused = false
  private readonly pending: Array<Uint8Array> = []
  /** Bytes waiting in `pending`: the connection stops reading the socket past a bound. */
  pendingBytes = 0
  private readonly window = new AcknowledgementWindow()
  private nextStreamId = 1
  readonly streams = new Set<number>()
  connected = false

  constructor(
    private readonly options: ServerSessionOptions,
    private readonly send: (bytes: Buffer) => void,
    private readonly handler: ServerSessionHandler
  ) {
    this.reader = new ChunkReader(options.limits)
    this.writer = new ChunkWriter(128)
  }

  /**
   * Feeds bytes from the socket. Throws a protocol error on malformed input. The bytes are not kept past
   * the call (what waits while paused is copied), so the caller may reuse its read buffer.
   */
  receive(bytes: Uint8Array): void {
    if (this.paused) {
      this.pending.push(Buffer.from(bytes))
      this.pendingBytes += bytes.length
      return
    }
    this.process(bytes)
  }

  /** Continues after a request was handled: processes the bytes that arrived meanwhile. */
  resume(): void {
    this.paused = false
    while (!this.paused) {
      const next = this.pending.shift()
      if (next === undefined) return
      this.pendingBytes -= next.length
      this.process(next)
    }
  }

  private process(bytes: Uint8Array): void {
    const consumed = this.reader.push(bytes, this.onMessage)
    if (consumed < bytes.length) {
      this.pending.unshift(Buffer.from(bytes.subarray(consumed)))
      this.pendingBytes += bytes.length - consumed
    }
    const sequence = this.window.due(this.reader.bytesRead)
    if (sequence !== undefined) this.sendControl(MessageType.Acknowledgement, encodeAcknowledgement(sequence))
  }

  private readonly onMessage = (message: RtmpMessage): boolean => {
    switch (message.typeId) {
      case MessageType.Audio:
      case MessageType.Video:
        this.handler.media(message)
        return true
      case MessageType.Aggregate:
        this.splitAggregate(message)
        return true
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        return this.onCommand(message.streamId, decodeCommand(message.typeId, message.payload))
      case MessageType.DataAmf0:
      case MessageType.DataAmf3: {
        const values = decodeData(message.typeId, message.payload)
        const setDataFrame = values[0] === "@setDataFrame"
        this.handler.data(message.streamId, setDataFrame ? values.slice(1) : values, setDataFrame, message.timestamp)
        return true
      }
      case MessageType.WindowAckSize:
        this.window.size = decodeU32Payload(message.typeId, message.payload)
        return true
      case MessageType.Acknowledgement:
        decodeU32Payload(message.typeId, message.payload) // validated; nothing waits on the peer's acknowledgements
        return true
      case MessageType.UserControl: {
        const control = decodeUserControl(message.payload)
        if (control.event === 6) this.sendUserControl({ event: 7, timestamp: control.timestamp })
        return true
      }
      default:
        // Set Chunk Size and Abort were applied by the reader; Set Peer Bandwidth and shared objects need nothing.
        return true
    }
  }

  /** Aggregate messages (type 22) carry FLV tags; their timestamps are relative to the first tag's. */
  private splitAggregate(message: RtmpMessage): void {
    const p = message.payload
    let at = 0
    let first: number | undefined
    while (p.length - at >= 11) {
      const typeId = p[at] as number
      const size = ((p[at + 1] as number) << 16) | ((p[at + 2] as number) << 8) | (p[at + 3] as number)
      const ts = (((p[at + 7] as number) << 24) | ((p[at + 4] as number) << 16) | ((p[at + 5] as number) << 8) | (p[at + 6] as number)) >>> 0
      if (at + 11 + size > p.length) throw new MessageDecodeError({ messageType: MessageType.Aggregate, message: "aggregate tag overruns the message" })
      first ??= ts
      const payload = p.subarray(at + 11, at + 11 + size)
      const timestamp = (message.timestamp + ts - first) >>> 0
      if (typeId === MessageType.Audio || typeId === MessageType.Video) {
        this.handler.media({ typeId, streamId: message.streamId, timestamp, chunkStreamId: message.chunkStreamId, payload })
      }
      at += 11 + size + 4 // tag header, body, previous tag size
    }
  }

  private request(request: SessionRequest): false {
    this.paused = true
    this.handler.request(request)
    return false
  }

  private onCommand(streamId: number, command: Command): boolean {
    const { name, transactionId, args } = command
    switch (name) {
      case "connect":
        return this.request({
          _tag: "Connect",
          transactionId,
          app: stringProperty(command.commandObject, "app")?.replace(/\/$/, ""),
          tcUrl: stringProperty(command.commandObject, "tcUrl"),
          objectEncoding: numberProperty(command.commandObject, "objectEncoding") ?? 0,
          commandObject: command.commandObject
        })
      case "createStream": {
        if (this.streams.size >= this.options.maxStreams) {
          // A client that keeps creating streams is misbehaving: refuse, and end the connection.
          this.sendError(transactionId, "NetConnection.Call.Failed", `more than ${this.options.maxStreams} streams`)
          throw new MessageDecodeError({
            messageType: MessageType.CommandAmf0,
            message: `more than ${this.options.maxStreams} streams on one connection (max-streams-per-connection)`
          })
        }
        const id = this.nextStreamId++
        this.streams.add(id)
        this.sendCommand(0, "_result", transactionId, null, id)
        return true
      }
      case "publish": {
        const [raw, type] = args
        const { name: streamName, query } = splitStreamName(typeof raw === "string" ? raw : "")
        return this.request({
          _tag: "Publish",
          transactionId,
          streamId,
          name: streamName,
          query,
          publishType: typeof type === "string" ? type.toLowerCase() : "live"
        })
      }
      case "play": {
        const [raw, start, , reset] = args
        const { name: streamName, query } = splitStreamName(typeof raw === "string" ? raw : "")
        return this.request({
          _tag: "Play",
          transactionId,
          streamId,
          name: streamName,
          query,
          start: typeof start === "number" ? start : -2,
          reset: reset !== false
        })
      }
      case "deleteStream": {
        const id = typeof args[0] === "number" ? args[0] : streamId
        this.streams.delete(id)
        return this.request({ _tag: "CloseStream", streamId: id, deleted: true })
      }
      case "closeStream":
        return this.request({ _tag: "CloseStream", streamId: typeof args[0] === "number" ? args[0] : streamId, deleted: false })
      case "FCUnpublish": {
        const raw = args[0]
        if (transactionId !== 0) this.sendCommand(0, "_result", transactionId, null)
        return this.request({ _tag: "Unpublish", name: splitStreamName(typeof raw === "string" ? raw : "").name })
      }
      case "receiveAudio":
      case "receiveVideo":
        return this.request({
          _tag: "ReceiveMedia",
          streamId,
          kind: name === "receiveAudio" ? "audio" : "video",
          enabled: args[0] !== false
        })
      case "pause":
        return this.request({ _tag: "Pause", streamId, paused: args[0] === true })
      case "releaseStream":
      case "_checkbw":
        if (transactionId !== 0) this.sendCommand(0, "_result", transactionId, null)
        return true
      case "FCPublish":
      case "FCSubscribe": {
        const raw = args[0]
        const code = name === "FCPublish" ? "NetStream.Publish.Start" : "NetStream.Play.Start"
        if (transactionId !== 0) this.sendCommand(0, "_result", transactionId, null)
        this.sendCommand(0, name === "FCPublish" ? "onFCPublish" : "onFCSubscribe", 0, null, amfObject({
          level: "status",
          code,
          description: typeof raw === "string" ? splitStreamName(raw).name : ""
        }))
        return true
      }
      case "getStreamLength":
        if (transactionId !== 0) this.sendCommand(0, "_result", transactionId, null, 0)
        return true
      case "_result":
      case "_error":
      case "onBWDone":
      case "_onbwcheck":
      case "_onbwdone":
        return true
      default:
        if (transactionId !== 0) this.sendError(transactionId, "NetConnection.Call.Failed", `Method not found (${name})`)
        return true
    }
  }

  // --- replies -----------------------------------------------------------------------------------------

  sendControl(typeId: number, payload: Buffer): void {
    this.send(this.writer.write(ChunkStreamId.Control, typeId, 0, 0, payload))
  }

  sendUserControl(control: Exclude<UserControl, { event: "unknown" }>): void {
    this.sendControl(MessageType.UserControl, encodeUserControl(control))
  }

  sendCommand(streamId: number, name: string, transactionId: number, commandObject: AmfValue, ...args: ReadonlyArray<AmfValue>): void {
    const csid = streamId === 0 ? ChunkStreamId.Command : ChunkStreamId.Status
    this.send(this.writer.write(csid, MessageType.CommandAmf0, streamId, 0, encodeCommand(name, transactionId, commandObject, ...args)))
  }

  sendError(transactionId: number, code: string, description: string): void {
    this.sendCommand(0, "_error", transactionId, null, amfObject({ level: "error", code, description }))
  }

  sendStatus(streamId: number, level: "status" | "error", code: string, description: string): void {
    this.sendCommand(streamId, "onStatus", 0, null, amfObject({ level, code, description, details: description, clientid: "effect-rtmp" }))
  }

  sendData(streamId: number, values: ReadonlyArray<AmfValue>): void {
    this.send(this.writer.write(ChunkStreamId.Status, MessageType.DataAmf0, streamId, 0, encodeAll(values)))
  }

  /** Window ack size, peer bandwidth, chunk size, `_result` NetConnection.Connect.Success, onBWDone. */
  acceptConnect(transactionId: number, objectEncoding: number, app: string, properties: ReadonlyArray<readonly [string, AmfValue]> = []): void {
    this.connected = true
    this.sendControl(MessageType.WindowAckSize, encodeWindowAckSize(this.options.windowAckSize))
    this.sendControl(MessageType.SetPeerBandwidth, encodeSetPeerBandwidth(this.options.peerBandwidth, PeerBandwidthLimit.Dynamic))
    this.sendControl(MessageType.SetChunkSize, encodeSetChunkSize(this.options.chunkSize))
    this.writer.chunkSize = this.options.chunkSize
    this.sendCommand(
      0,
      "_result",
      transactionId,
      new AmfObject([["fmsVer", FMS_VERSION], ["capabilities", 31], ["mode", 1], ...properties]),
      amfObject({
        level: "status",
        code: "NetConnection.Connect.Success",
        description: `Connection succeeded on app: ${app}`,
        objectEncoding
      })
    )
    this.sendCommand(0, "onBWDone", 0, null, 8192)
  }

  /**
   * E-RTMP Reconnect Request: `onStatus` on stream 0, transaction 0, command object null, info
   * `{level: "status", code: "NetConnection.Connect.ReconnectRequest", description, tcUrl?}`. Without a
   * `tcUrl` the client reconnects to the URL it used.
   */
  sendReconnectRequest(tcUrl: string | undefined, description: string): void {
    const info = amfObject({ level: "status", code: "NetConnection.Connect.ReconnectRequest", description })
    if (tcUrl !== undefined) info.properties.set("tcUrl", tcUrl)
    this.sendCommand(0, "onStatus", 0, null, info)
  }

  rejectConnect(transactionId: number, description: string): void {
    this.sendCommand(0, "_error", transactionId, null, amfObject({ level: "error", code: "NetConnection.Connect.Rejected", description }))
  }
}
