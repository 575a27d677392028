/**
 * RTMP message types (RTMP 1.0 spec §5.4, §6, §7): protocol control and user control payloads, and
 * command/data messages on top of AMF0. Pure encoders return payload Buffers; decoders throw
 * `MessageDecodeError` (or `AmfDecodeError`) on malformed input.
 */
import { type AmfValue, decodeAll, encodeAll } from "./amf0.js"
import { MessageDecodeError } from "./errors.js"

export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22
} as const

export const UserControlEvent = {
  StreamBegin: 0,
  StreamEOF: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
  BufferEmpty: 31,
  BufferReady: 32
} as const

export const PeerBandwidthLimit = { Hard: 0, Soft: 1, Dynamic: 2 } as const

/**
 * Chunk stream ids we send on (close to nginx-rtmp's, which players are used to). Shared, pre-encoded
 * messages (always fmt 0) get chunk streams of their own, so they never disturb a peer's header
 * compression state on the per-peer ones.
 */
export const ChunkStreamId = {
  Control: 2,
  Command: 3,
  SharedData: 4,
  Status: 5,
  Audio: 6,
  Video: 7
} as const

/** The chunk stream a shared, pre-encoded audio/video/data message goes on. */
export const chunkStreamFor = (typeId: number): number =>
  typeId === MessageType.Audio ? ChunkStreamId.Audio : typeId === MessageType.Video ? ChunkStreamId.Video : ChunkStreamId.SharedData

/** Tracks when the peer's Window Acknowledgement Size has filled (RTMP 1.0 §5.4.3/5.4.4). */
export class AcknowledgementWindow {
  /** The peer's window; 0 until it sends one, and then no acknowledgements are owed. */
  size = 0
  private acknowledged = 0
  /** The sequence number (running total of bytes received) to acknowledge now, or `undefined`. */
  due(bytesRead: number): number | undefined {
    if (this.size === 0 || bytesRead - this.acknowledged < this.size) return undefined
    this.acknowledged = bytesRead
    return bytesRead % 0x100000000
  }
}

const u32 = (value: number): Buffer => {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(value >>> 0, 0)
  return b
}

export const encodeSetChunkSize = (size: number): Buffer => u32(size & 0x7fffffff)
export const encodeAbort = (chunkStreamId: number): Buffer => u32(chunkStreamId)
export const encodeAcknowledgement = (sequenceNumber: number): Buffer => u32(sequenceNumber)
export const encodeWindowAckSize = (size: number): Buffer => u32(size)
export const encodeSetPeerBandwidth = (size: number, limit: number): Buffer => {
  const b = Buffer.allocUnsafe(5)
  b.writeUInt32BE(size >>> 0, 0)
  b[4] = limit
  return b
}

export type UserControl =
  | { readonly event: 0 | 1 | 2 | 4 | 31 | 32; readonly streamId: number }
  | { readonly event: 3; readonly streamId: number; readonly bufferLength: number }
  | { readonly event: 6 | 7; readonly timestamp: number }
  | { readonly event: "unknown"; readonly eventType: number; readonly data: Uint8Array }

export const encodeUserControl = (control: Exclude<UserControl, { event: "unknown" }>): Buffer => {
  const size = control.event === UserControlEvent.SetBufferLength ? 10 : 6
  const b = Buffer.allocUnsafe(size)
  b.writeUInt16BE(control.event, 0)
  if ("timestamp" in control) b.writeUInt32BE(control.timestamp >>> 0, 2)
  else b.writeUInt32BE(control.streamId >>> 0, 2)
  if ("bufferLength" in control) b.writeUInt32BE(control.bufferLength >>> 0, 6)
  return b
}

const shortPayload = (typeId: number, need: number, got: number) =>
  new MessageDecodeError({ messageType: typeId, message: `message type ${typeId} needs ${need} bytes, got ${got}` })

/** Reads the u32 payload of Set Chunk Size, Abort, Acknowledgement or Window Ack Size. */
export const decodeU32Payload = (typeId: number, payload: Uint8Array): number => {
  if (payload.length < 4) throw shortPayload(typeId, 4, payload.length)
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).readUInt32BE(0)
}

export const decodeSetPeerBandwidth = (payload: Uint8Array): { readonly size: number; readonly limit: number } => {
  if (payload.length < 5) throw shortPayload(MessageType.SetPeerBandwidth, 5, payload.length)
  return { size: decodeU32Payload(MessageType.SetPeerBandwidth, payload), limit: payload[4] as number }
}

/** Unknown event types (SWF verification 26/27, vendor extensions) decode as `unknown`, not as an error. */
export const decodeUserControl = (payload: Uint8Array): UserControl => {
  if (payload.length < 2) throw shortPayload(MessageType.UserControl, 2, payload.length)
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  const event = b.readUInt16BE(0)
  switch (event) {
    case 0:
    case 1:
    case 2:
    case 4:
    case 31:
    case 32:
      if (b.length < 6) throw shortPayload(MessageType.UserControl, 6, b.length)
      return { event, streamId: b.readUInt32BE(2) }
    case 3:
      if (b.length < 10) throw shortPayload(MessageType.UserControl, 10, b.length)
      return { event, streamId: b.readUInt32BE(2), bufferLength: b.readUInt32BE(6) }
    case 6:
    case 7:
      if (b.length < 6) throw shortPayload(MessageType.UserControl, 6, b.length)
      return { event, timestamp: b.readUInt32BE(2) }
    default:
      return { event: "unknown", eventType: event, data: b.subarray(2) }
  }
}

/** A command message: name, transaction id, command object, and any further arguments. */
export interface Command {
  readonly name: string
  readonly transactionId: number
  readonly commandObject: AmfValue
  readonly args: ReadonlyArray<AmfValue>
}

/**
 * Decodes a command (type 20, or 17 after its format byte). Only the name is required: a missing
 * transaction id reads as 0 and a missing command object as null, instead of the seed's panic.
 */
export const decodeCommand = (typeId: number, payload: Uint8Array): Command => {
  const values = decodeAll(payload, typeId === MessageType.CommandAmf3 && payload[0] === 0 ? 1 : 0)
  const [name, transactionId, commandObject, ...args] = values
  if (typeof name !== "string") {
    throw new MessageDecodeError({ messageType: typeId, message: "command message does not start with a name" })
  }
  return {
    name,
    transactionId: typeof transactionId === "number" ? transactionId : 0,
    commandObject: commandObject === undefined ? null : commandObject,
    args
  }
}

export const encodeCommand = (
  name: string,
  transactionId: number,
  commandObject: AmfValue,
  ...args: ReadonlyArray<AmfValue>
): Buffer => encodeAll([name, transactionId, commandObject, ...args])

/** Decodes a data message (type 18, or 15 after its format byte) into its AMF values. */
export const decodeData = (typeId: number, payload: Uint8Array): Array<AmfValue> =>
  decodeAll(payload, typeId === MessageType.DataAmf3 && payload[0] === 0 ? 1 : 0)
