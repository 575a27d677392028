/**
 * RTMP chunk stream writer, sans-IO: one message in, one Buffer holding all of its chunks out.
 *
 * `ChunkWriter` compresses headers per chunk stream (fmt 1/2/3) for a single peer. `encodeMessage`
 * writes a self-contained message (fmt 0 first chunk, absolute timestamp, fmt 3 continuations): given the
 * same chunk size and stream id the bytes are identical for every peer, so media is serialised once and
 * the same Buffer is shared by all players.
 */
import { EncodeError } from "./errors.js"

export const MAX_MESSAGE_LENGTH = 0xffffff
const EXTENDED = 0xffffff

const basicHeaderSize = (csid: number): number => (csid < 64 ? 1 : csid < 320 ? 2 : 3)

const writeBasicHeader = (out: Buffer, at: number, fmt: number, csid: number): number => {
  if (csid < 64) {
    out[at] = (fmt << 6) | csid
    return at + 1
  }
  if (csid < 320) {
    out[at] = fmt << 6
    out[at + 1] = csid - 64
    return at + 2
  }
  out[at] = (fmt << 6) | 1
  out[at + 1] = (csid - 64) & 0xff
  out[at + 2] = (csid - 64) >> 8
  return at + 3
}

const writeU24 = (out: Buffer, at: number, v: number): void => {
  out[at] = (v >> 16) & 0xff
  out[at + 1] = (v >> 8) & 0xff
  out[at + 2] = v & 0xff
}

const checkChunkStreamId = (csid: number): void => {
  if (!Number.isInteger(csid) || csid < 2 || csid > 65599) {
    throw new EncodeError({ message: `chunk stream id ${csid} is outside 2..65599` })
  }
}

const checkLength = (length: number): void => {
  if (length > MAX_MESSAGE_LENGTH) {
    throw new EncodeError({ message: `message of ${length} bytes exceeds the RTMP limit of ${MAX_MESSAGE_LENGTH}` })
  }
}

/**
 * Writes chunks: `fmt` for the first, fmt 3 for continuations. `timestampValue` is the value of the first
 * header's timestamp field (absolute for fmt 0, delta for fmt 1/2, the repeated one for fmt 3); an
 * extended value is repeated on every continuation chunk, as the spec (and ffmpeg, GStreamer) expect.
 */
const writeChunks = (
  fmt: number,
  csid: number,
  typeId: number,
  streamId: number,
  timestampValue: number,
  extended: boolean,
  payload: Uint8Array,
  chunkSize: number
): Buffer => {
  const basic = basicHeaderSize(csid)
  const ext = extended ? 4 : 0
  const fields = fmt === 0 ? 11 : fmt === 1 ? 7 : fmt === 2 ? 3 : 0
  const chunks = Math.max(1, Math.ceil(payload.length / chunkSize))
  const size = basic + fields + ext + payload.length + (chunks - 1) * (basic + ext)
  const out = Buffer.allocUnsafe(size)
  let at = writeBasicHeader(out, 0, fmt, csid)
  const field = extended ? EXTENDED : timestampValue
  if (fmt <= 2) {
    writeU24(out, at, field)
    at += 3
  }
  if (fmt <= 1) {
    writeU24(out, at, payload.length)
    out[at + 3] = typeId
    at += 4
  }
  if (fmt === 0) {
    out.writeUInt32LE(streamId >>> 0, at)
    at += 4
  }
  if (extended) {
    out.writeUInt32BE(timestampValue >>> 0, at)
    at += 4
  }
  let offset = 0
  for (let chunk = 0; chunk < chunks; chunk++) {
    if (chunk > 0) {
      at = writeBasicHeader(out, at, 3, csid)
      if (extended) {
        out.writeUInt32BE(timestampValue >>> 0, at)
        at += 4
      }
    }
    const n = Math.min(chunkSize, payload.length - offset)
    out.set(payload.subarray(offset, offset + n), at)
    at += n
    offset += n
  }
  return out
}

/** A self-contained message: fmt 0, absolute timestamp, fmt 3 continuations. Shareable between peers. */
export const encodeMessage = (
  csid: number,
  typeId: number,
  streamId: number,
  timestamp: number,
  payload: Uint8Array,
  chunkSize: number
): Buffer => {
  checkChunkStreamId(csid)
  checkLength(payload.length)
  const ts = timestamp >>> 0
  return writeChunks(0, csid, typeId, streamId, ts, ts >= EXTENDED, payload, chunkSize)
}

interface LastHeader {
  fmt: number
  timestamp: number
  delta: number
  length: number
  typeId: number
  streamId: number
}

/** Per-peer writer with header compression. Do not mix it with `encodeMessage` on the same csid. */
export class ChunkWriter {
  private readonly last = new Map<number, LastHeader>()
  constructor(public chunkSize = 128) {}

  /** Forgets the compression state of a chunk stream, e.g. after the peer may have missed a message. */
  reset(csid: number): void {
    this.last.delete(csid)
  }

  write(csid: number, typeId: number, streamId: number, timestamp: number, payload: Uint8Array): Buffer {
    checkChunkStreamId(csid)
    checkLength(payload.length)
    const ts = timestamp >>> 0
    const last = this.last.get(csid)
    let fmt = 0
    let value = ts
    if (last !== undefined && last.streamId === streamId && ts >= last.timestamp) {
      const delta = ts - last.timestamp
      value = delta
      if (last.length !== payload.length || last.typeId !== typeId) fmt = 1
      // fmt 3 for a new message repeats the previous delta; after fmt 0 readers disagree on what that
      // delta is, so it is only used after a fmt 1/2 header.
      else if (delta !== last.delta || last.fmt === 0) fmt = 2
      else fmt = 3
    }
    const out = writeChunks(fmt, csid, typeId, streamId, value, value >= EXTENDED, payload, this.chunkSize)
    this.last.set(csid, {
      fmt: fmt === 3 ? last?.fmt ?? 0 : fmt,
      timestamp: ts,
      delta: value,
      length: payload.length,
      typeId,
      streamId
    })
    return out
  }
}
