/**
 * Client side of an RTMP connection after the handshake, sans-IO: connect, createStream, play or
 * publish, with the server's Set Chunk Size applied before the next chunk, acknowledgements by the
 * server's window, and pings answered. Replies come back as typed events, never as exceptions.
 */
import { type AmfValue, amfObject, AmfObject, encodeAll, stringProperty } from "../protocol/amf0.js"
import { ChunkReader, type ChunkReaderLimits, defaultChunkReaderLimits, type RtmpMessage } from "../protocol/chunk-reader.js"
import { ChunkWriter } from "../protocol/chunk-writer.js"
import {
  AcknowledgementWindow,
  ChunkStreamId,
  chunkStreamFor,
  decodeCommand,
  decodeData,
  decodeU32Payload,
  decodeUserControl,
  encodeAcknowledgement,
  encodeCommand,
  encodeSetChunkSize,
  encodeUserControl,
  encodeWindowAckSize,
  MessageType,
  type UserControl
} from "../protocol/messages.js"

export type ClientEvent =
  | { readonly _tag: "Connected"; readonly info: AmfValue }
  | { readonly _tag: "ConnectRejected"; readonly code: string; readonly description: string }
  | { readonly _tag: "StreamCreated"; readonly streamId: number }
  | { readonly _tag: "CommandFailed"; readonly command: string; readonly code: string; readonly description: string }
  | {
      readonly _tag: "Status"
      readonly streamId: number
      readonly level: string
      readonly code: string
      readonly description: string
      /** The whole info object (a ReconnectRequest carries `tcUrl`). */
      readonly info: AmfObject
    }
  | { readonly _tag: "Media"; readonly message: RtmpMessage }
  | { readonly _tag: "Data"; readonly streamId: number; readonly values: ReadonlyArray<AmfValue>; readonly timestamp: number }
  | { readonly _tag: "UserControl"; readonly control: UserControl }
  | { readonly _tag: "Command"; readonly streamId: number; readonly name: string; readonly args: ReadonlyArray<AmfValue> }

export interface ClientSessionOptions {
  readonly app: string
  readonly tcUrl: string
  readonly flashVer: string
  /** `FMLE/3.0` style clients announce themselves as a "nonprivate" publisher. */
  readonly type: string
  /** Outgoing chunk size, announced after the connect is accepted (some servers refuse it before). */
  readonly chunkSize: number
  readonly windowAckSize: number
  readonly limits: ChunkReaderLimits
  /** Extra connect properties (E-RTMP `fourCcList`, `capsEx`, …). */
  readonly connectProperties?: ReadonlyArray<readonly [string, AmfValue]>
}

export const defaultClientOptions = (app: string, tcUrl: string): ClientSessionOptions => ({
  app,
  tcUrl,
  flashVer: "FMLE/3.0 (compatible; effect-rtmp)",
  type: "nonprivate",
  chunkSize: 4096,
  windowAckSize: 5_000_000,
  limits: defaultChunkReaderLimits
})

export class ClientSession {
  readonly reader: ChunkReader
  readonly writer = new ChunkWriter(128)
  private nextTransactionId = 1
  private readonly pendingCommands = new Map<number, string>()
  private readonly window = new AcknowledgementWindow()

  constructor(
    private readonly options: ClientSessionOptions,
    private readonly send: (bytes: Buffer) => void,
    private readonly onEvent: (event: ClientEvent) => void
  ) {
    this.reader = new ChunkReader(options.limits)
  }

  receive(bytes: Uint8Array): void {
    this.reader.push(bytes, this.onMessage)
    const sequence = this.window.due(this.reader.bytesRead)
    if (sequence !== undefined) this.sendControl(MessageType.Acknowledgement, encodeAcknowledgement(sequence))
  }

  private call(name: string, streamId: number, commandObject: AmfValue, ...args: ReadonlyArray<AmfValue>): number {
    const transactionId = this.nextTransactionId++
    this.pendingCommands.set(transactionId, name)
    this.sendCommand(streamId, name, transactionId, commandObject, ...args)
    return transactionId
  }

  private sendCommand(streamId: number, name: string, transactionId: number, commandObject: AmfValue, ...args: ReadonlyArray<AmfValue>): void {
    const csid = streamId === 0 ? ChunkStreamId.Command : ChunkStreamId.Status
    this.send(this.writer.write(csid, MessageType.CommandAmf0, streamId, 0, encodeCommand(name, transactionId, commandObject, ...args)))
  }

  private sendControl(typeId: number, payload: Buffer): void {
    this.send(this.writer.write(ChunkStreamId.Control, typeId, 0, 0, payload))
  }

  connect(): void {
    const commandObject = amfObject({
      app: this.options.app,
      type: this.options.type,
      flashVer: this.options.flashVer,
      tcUrl: this.options.tcUrl,
      fpad: false,
      capabilities: 15,
      audioCodecs: 4071,
      videoCodecs: 252,
      videoFunction: 1,
      objectEncoding: 0
    })
    for (const [key, value] of this.options.connectProperties ?? []) commandObject.properties.set(key, value)
    this.call("connect", 0, commandObject)
  }

  createStream(): void {
    this.call("createStream", 0, null)
  }

  play(streamId: number, name: string): void {
    this.send(this.writer.write(ChunkStreamId.Control, MessageType.UserControl, 0, 0, encodeUserControl({ event: 3, streamId, bufferLength: 1000 })))
    this.sendCommand(streamId, "play", 0, null, name, -2)
  }

  /** releaseStream and FCPublish (what FMLE/OBS/ffmpeg send and some servers expect), then publish. */
  publish(streamId: number, name: string, type: "live" | "record" | "append" = "live"): void {
    this.call("releaseStream", 0, null, name)
    this.call("FCPublish", 0, null, name)
    this.sendCommand(streamId, "publish", 0, null, name, type)
  }

  unpublish(streamId: number, name: string): void {
    this.call("FCUnpublish", 0, null, name)
    this.deleteStream(streamId)
  }

  deleteStream(streamId: number): void {
    this.sendCommand(streamId, "deleteStream", 0, null, streamId)
  }

  sendMetadata(streamId: number, metadata: AmfObject): void {
    this.send(this.writer.write(ChunkStreamId.SharedData, MessageType.DataAmf0, streamId, 0, encodeAll(["@setDataFrame", "onMetaData", metadata])))
  }

  sendMedia(streamId: number, typeId: number, timestamp: number, payload: Uint8Array): void {
    this.send(this.writer.write(chunkStreamFor(typeId), typeId, streamId, timestamp, payload))
  }

  private readonly onMessage = (message: RtmpMessage): void => {
    switch (message.typeId) {
      case MessageType.Audio:
      case MessageType.Video:
        this.onEvent({ _tag: "Media", message })
        return
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        this.onEvent({ _tag: "Data", streamId: message.streamId, values: decodeData(message.typeId, message.payload), timestamp: message.timestamp })
        return
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        this.onCommand(message)
        return
      case MessageType.WindowAckSize:
        this.window.size = decodeU32Payload(message.typeId, message.payload)
        return
      case MessageType.UserControl: {
        const control = decodeUserControl(message.payload)
        if (control.event === 6) this.sendControl(MessageType.UserControl, encodeUserControl({ event: 7, timestamp: control.timestamp }))
        this.onEvent({ _tag: "UserControl", control })
        return
      }
    }
  }

  private onCommand(message: RtmpMessage): void {
    const command = decodeCommand(message.typeId, message.payload)
    const info = command.args[0]
    const code = stringProperty(info ?? null, "code") ?? ""
    const description = stringProperty(info ?? null, "description") ?? ""
    if (command.name === "_result" || command.name === "_error") {
      const name = this.pendingCommands.get(command.transactionId)
      this.pendingCommands.delete(command.transactionId)
      if (name === "connect") {
        if (command.name === "_error") this.onEvent({ _tag: "ConnectRejected", code, description })
        else {
          this.sendControl(MessageType.WindowAckSize, encodeWindowAckSize(this.options.windowAckSize))
          this.sendControl(MessageType.SetChunkSize, encodeSetChunkSize(this.options.chunkSize))
          this.writer.chunkSize = this.options.chunkSize
          this.onEvent({ _tag: "Connected", info: info ?? null })
        }
      } else if (name === "createStream") {
        if (command.name === "_result" && typeof info === "number") this.onEvent({ _tag: "StreamCreated", streamId: info })
        else this.onEvent({ _tag: "CommandFailed", command: "createStream", code, description })
      } else if (command.name === "_error" && name !== undefined) {
        this.onEvent({ _tag: "CommandFailed", command: name, code, description })
      }
      return
    }
    if (command.name === "onStatus" && info instanceof AmfObject) {
      this.onEvent({
        _tag: "Status",
        streamId: message.streamId,
        level: stringProperty(info, "level") ?? "",
        code,
        description,
        info
      })
      return
    }
    this.onEvent({ _tag: "Command", streamId: message.streamId, name: command.name, args: command.args })
  }
}
