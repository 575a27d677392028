import * as Data from "effect/Data"

/**
 * Every protocol violation a peer can cause. The pure codecs throw these; the connection layer turns them
 * into a failed connection scope, a log line and a closed socket — never a crash.
 */
export class AmfDecodeError extends Data.TaggedError("AmfDecodeError")<{
  readonly reason: "Truncated" | "UnknownMarker" | "TooDeep" | "BadReference" | "BadUtf8" | "Unsupported"
  readonly message: string
}> {}

export class EncodeError extends Data.TaggedError("EncodeError")<{
  readonly message: string
}> {}

export class HandshakeError extends Data.TaggedError("HandshakeError")<{
  readonly reason: "BadVersion" | "EncryptionUnsupported" | "Timeout"
  readonly message: string
}> {}

export class ChunkError extends Data.TaggedError("ChunkError")<{
  readonly reason:
    | "NoPreviousHeader"
    | "MessageTooLarge"
    | "TooManyChunkStreams"
    | "BufferedBytesExceeded"
    | "BadChunkSize"
  readonly message: string
}> {}

export class MessageDecodeError extends Data.TaggedError("MessageDecodeError")<{
  readonly messageType: number
  readonly message: string
}> {}

/** An Enhanced RTMP tag that does not follow the v2 grammar (truncated, reserved values). */
export class ErtmpError extends Data.TaggedError("ErtmpError")<{
  readonly message: string
}> {}

export type ProtocolError = AmfDecodeError | EncodeError | HandshakeError | ChunkError | MessageDecodeError | ErtmpError

export const isProtocolError = (u: unknown): u is ProtocolError =>
  u instanceof AmfDecodeError ||
  u instanceof EncodeError ||
  u instanceof HandshakeError ||
  u instanceof ChunkError ||
  u instanceof MessageDecodeError ||
  u instanceof ErtmpError
