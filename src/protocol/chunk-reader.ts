/**
 * Incremental RTMP chunk stream reader (RTMP 1.0 spec §5.3), sans-IO: bytes in, messages out.
 *
 * - fmt 0–3 headers, 1/2/3-byte chunk stream ids, extended timestamps (also repeated on type-3 chunks),
 *   messages interleaved across chunk streams (state per csid).
 * - Set Chunk Size and Abort are applied by the reader itself, so a new chunk size governs the very next
 *   chunk, whatever the caller does.
 * - Any split of the byte stream yields the same messages; only a partial header (≤ 18 bytes) is buffered
 *   between reads. Every payload is a copy, never a view of the input: the caller may reuse its read buffer.
 * - Memory is bounded by `maxMessageSize` and `maxBufferedBytes`, never by the peer's chunk size.
 */
import { ChunkError } from "./errors.js"

export interface RtmpMessage {
  readonly typeId: number
  readonly streamId: number
  /** Absolute timestamp in ms, unsigned 32-bit (wraps after ~49.7 days). */
  readonly timestamp: number
  readonly chunkStreamId: number
  readonly payload: Uint8Array
}

export interface ChunkReaderLimits {
  /** Largest message accepted (declared length). */
  readonly maxMessageSize: number
  /** Most chunk streams one connection may use. */
  readonly maxChunkStreams: number
  /** Most bytes held at once for messages still being assembled, across all chunk streams. */
  readonly maxBufferedBytes: number
  /** Largest chunk size a peer may set (memory never depends on it; this bounds what is honoured). */
  readonly maxChunkSize?: number | undefined
}

export const defaultChunkReaderLimits: ChunkReaderLimits = {
  maxMessageSize: 8 * 1024 * 1024,
  maxChunkStreams: 64,
  maxBufferedBytes: 16 * 1024 * 1024
}

export const DEFAULT_CHUNK_SIZE = 128
export const MAX_CHUNK_SIZE = 0x7fffffff
const MAX_HEADER_SIZE = 18
const EXTENDED = 0xffffff

class ChunkStreamState {
  timestamp = 0
  /** The timestamp value of the last header: absolute after fmt 0, the delta after fmt 1/2. */
  delta = 0
  /** Whether the last fmt 0/1/2 header carried an extended timestamp (type-3 chunks then repeat it). */
  extended = false
  length = 0
  typeId = 0
  streamId = 0
  payload: Buffer | undefined = undefined
  received = 0
  constructor(readonly id: number) {}
}

/** The callback may return `false` to pause: `push` then returns how many bytes it consumed. */
export type MessageHandler = (message: RtmpMessage) => boolean | void

export class ChunkReader {
  chunkSize = DEFAULT_CHUNK_SIZE
  /** Total bytes consumed, for acknowledgements. */
  bytesRead = 0
  private readonly streams = new Map<number, ChunkStreamState>()
  private readonly header = Buffer.alloc(MAX_HEADER_SIZE)
  private headerLength = 0
  /** The chunk stream whose chunk body is being read, and how many body bytes of it remain. */
  private current: ChunkStreamState | undefined = undefined
  private chunkRemaining = 0
  private bufferedBytes = 0

  constructor(readonly limits: ChunkReaderLimits = defaultChunkReaderLimits) {}

  /** Parses `input`; returns the number of bytes consumed (less than its length only if paused). */
  push(input: Uint8Array, onMessage: MessageHandler): number {
    const end = input.length
    let pos = 0
    while (pos < end) {
      const current = this.current
      if (current !== undefined) {
        const n = Math.min(this.chunkRemaining, end - pos)
        ;(current.payload as Buffer).set(input.subarray(pos, pos + n), current.received)
        current.received += n
        pos += n
        this.chunkRemaining -= n
        if (this.chunkRemaining > 0) continue
        this.current = undefined
        if (current.received === current.length) {
          const payload = current.payload as Buffer
          current.payload = undefined
          current.received = 0
          this.bufferedBytes -= current.length
          if (this.emit(current, payload, onMessage) === false) return this.consumed(pos)
        }
        continue
      }
      let consumedHeader: number
      if (this.headerLength > 0) {
        const copy = Math.min(MAX_HEADER_SIZE - this.headerLength, end - pos)
        this.header.set(input.subarray(pos, pos + copy), this.headerLength)
        const size = this.parseHeader(this.header, 0, this.headerLength + copy)
        if (size < 0) {
          this.headerLength += copy
          pos += copy
          continue
        }
        consumedHeader = size - this.headerLength
        this.headerLength = 0
      } else {
        const size = this.parseHeader(input, pos, end)
        if (size < 0) {
          this.header.set(input.subarray(pos, end), 0)
          this.headerLength = end - pos
          pos = end
          continue
        }
        consumedHeader = size
      }
      pos += consumedHeader
      const state = this.current as ChunkStreamState | undefined
      if (state === undefined) continue
      if (state.length === 0) {
        this.current = undefined
        if (this.emit(state, Buffer.alloc(0), onMessage) === false) return this.consumed(pos)
        continue
      }
      if (state.received === 0 && state.payload === undefined) {
        // Fast path: the whole message is here, in one chunk. It is copied (small messages into Node's
        // shared pool) rather than sliced: a slice kept in a GOP cache would keep the whole socket read
        // buffer alive — measured: 33 → 16 MB of Buffers and −10 MiB RSS with 16 publishers.
        if (state.length <= this.chunkSize && end - pos >= state.length) {
          const payload = Buffer.from(input.subarray(pos, pos + state.length))
          pos += state.length
          this.current = undefined
          if (this.emit(state, payload, onMessage) === false) return this.consumed(pos)
          continue
        }
        this.bufferedBytes += state.length
        if (this.bufferedBytes > this.limits.maxBufferedBytes) {
          throw new ChunkError({
            reason: "BufferedBytesExceeded",
            message: `more than ${this.limits.maxBufferedBytes} bytes of unfinished messages (max-buffered-bytes)`
          })
        }
        state.payload = Buffer.allocUnsafe(state.length)
      }
      this.chunkRemaining = Math.min(this.chunkSize, state.length - state.received)
    }
    return this.consumed(pos)
  }

  private consumed(pos: number): number {
    this.bytesRead += pos
    return pos
  }

  private emit(state: ChunkStreamState, payload: Uint8Array, onMessage: MessageHandler): boolean | void {
    if (state.streamId === 0) {
      if (state.typeId === 1 && payload.length >= 4) this.setChunkSize(readU32(payload, 0))
      else if (state.typeId === 2 && payload.length >= 4) this.abort(readU32(payload, 0))
    }
    return onMessage({
      typeId: state.typeId,
      streamId: state.streamId,
      timestamp: state.timestamp,
      chunkStreamId: state.id,
      payload
    })
  }

  setChunkSize(size: number): void {
    const max = Math.min(MAX_CHUNK_SIZE, this.limits.maxChunkSize ?? MAX_CHUNK_SIZE)
    if (size < 1 || size > max) {
      throw new ChunkError({ reason: "BadChunkSize", message: `chunk size ${size} is outside 1..${max} (max-chunk-size)` })
    }
    this.chunkSize = size
  }

  /** Abort Message: discard the partly received message on that chunk stream. */
  abort(chunkStreamId: number): void {
    const state = this.streams.get(chunkStreamId)
    if (state === undefined || state.payload === undefined) return
    this.bufferedBytes -= state.length
    state.payload = undefined
    state.received = 0
  }

  /** Parses one chunk header at `p`; commits it and returns its size, or -1 when more bytes are needed. */
  private parseHeader(buf: Uint8Array, p: number, end: number): number {
    const b0 = buf[p] as number
    const fmt = b0 >> 6
    let csid = b0 & 0x3f
    let i = p + 1
    if (csid === 0) {
      if (end - i < 1) return -1
      csid = (buf[i] as number) + 64
      i += 1
    } else if (csid === 1) {
      if (end - i < 2) return -1
      csid = (buf[i] as number) + (buf[i + 1] as number) * 256 + 64
      i += 2
    }
    const known = this.streams.get(csid)
    if (known === undefined && fmt !== 0) {
      throw new ChunkError({
        reason: "NoPreviousHeader",
        message: `chunk stream ${csid} starts with a type-${fmt} header`
      })
    }
    const fieldSize = fmt === 0 ? 11 : fmt === 1 ? 7 : fmt === 2 ? 3 : 0
    if (end - i < fieldSize) return -1
    const field = fmt < 3 ? readU24(buf, i) : 0
    const hasExtended = fmt < 3 ? field === EXTENDED : (known as ChunkStreamState).extended
    if (end - i - fieldSize < (hasExtended ? 4 : 0)) return -1
    const extended = hasExtended ? readU32(buf, i + fieldSize) : 0
    const timestampValue = hasExtended ? extended : field

    let state = known
    if (state === undefined) {
      if (this.streams.size >= this.limits.maxChunkStreams) {
        throw new ChunkError({
          reason: "TooManyChunkStreams",
          message: `more than ${this.limits.maxChunkStreams} chunk streams on one connection (max-chunk-streams)`
        })
      }
      state = new ChunkStreamState(csid)
      this.streams.set(csid, state)
    }
    const continuing = fmt === 3 && state.payload !== undefined
    if (!continuing && state.payload !== undefined) this.abort(csid) // a new header replaces an unfinished message
    switch (fmt) {
      case 0:
        state.timestamp = timestampValue >>> 0
        state.delta = timestampValue
        state.length = readU24(buf, i + 3)
        state.typeId = buf[i + 6] as number
        state.streamId = readU32LE(buf, i + 7)
        state.extended = hasExtended
        break
      case 1:
      case 2:
        if (fmt === 1) {
          state.length = readU24(buf, i + 3)
          state.typeId = buf[i + 6] as number
        }
        state.delta = timestampValue
        state.timestamp = (state.timestamp + timestampValue) >>> 0
        state.extended = hasExtended
        break
      default:
        if (!continuing) state.timestamp = (state.timestamp + state.delta) >>> 0
    }
    if (state.length > this.limits.maxMessageSize) {
      throw new ChunkError({
        reason: "MessageTooLarge",
        message: `message of ${state.length} bytes exceeds the limit of ${this.limits.maxMessageSize} (max-message-size)`
      })
    }
    this.current = state
    return i + fieldSize + (hasExtended ? 4 : 0) - p
  }
}

const readU24 = (b: Uint8Array, i: number): number =>
  ((b[i] as number) << 16) | ((b[i + 1] as number) << 8) | (b[i + 2] as number)

export const readU32 = (b: Uint8Array, i: number): number =>
  (((b[i] as number) << 24) | ((b[i + 1] as number) << 16) | ((b[i + 2] as number) << 8) | (b[i + 3] as number)) >>> 0

const readU32LE = (b: Uint8Array, i: number): number =>
  ((b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16) | ((b[i + 3] as number) << 24)) >>> 0
