/**
 * The `ws` library's frame reader (its `Receiver`, which its type declarations leave out) as an independent
 * parser of what the server writes to a WebSocket: unmasked frames, read as a client reads them. Beside it,
 * what a raw-socket client needs to misbehave: its upgrade request, its own frames, and the server's frames
 * by opcode (a close included, which the `Receiver` ends on).
 */
import { createRequire } from "node:module"

interface WsReceiver {
  on(event: "message", listener: (data: Buffer, binary: boolean) => void): void
  on(event: "error", listener: (error: Error) => void): void
  write(bytes: Buffer): boolean
}

const { Receiver } = createRequire(import.meta.url)("ws") as {
  Receiver: new (options: { isServer: boolean; maxPayload: number }) => WsReceiver
}

/** The messages in `bytes`, in order; a malformed frame throws. (`ws` reads a whole write synchronously.) */
export const readWsMessages = (bytes: Buffer): Array<{ readonly data: Buffer; readonly binary: boolean }> => {
  const messages: Array<{ data: Buffer; binary: boolean }> = []
  const receiver = new Receiver({ isServer: false, maxPayload: 0 })
  receiver.on("message", (data, binary) => void messages.push({ data: Buffer.from(data), binary }))
  receiver.on("error", (error) => {
    throw error
  })
  receiver.write(bytes)
  return messages
}

/** A client's WebSocket upgrade request for `path`, to send over a raw socket. */
export const wsUpgradeRequest = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"

/** A client's ping with `length` (≤ 125) bytes of payload, masked with a zero mask. */
export const maskedPing = (length: number): Buffer => Buffer.concat([Buffer.from([0x89, 0x80 | length, 0, 0, 0, 0]), Buffer.alloc(length, 0x70)])

/** A client's close frame: masked, as a client must send it (the mask is zero, which leaves the code as it is). */
export const maskedCloseFrame = (code: number): Buffer => Buffer.from([0x88, 0x82, 0, 0, 0, 0, code >> 8, code & 0xff])

/** The opcodes of the unmasked frames a server wrote, in order; an incomplete last frame is left out. */
export const serverFrames = (bytes: Buffer): Array<{ readonly opcode: number }> => {
  const frames: Array<{ opcode: number }> = []
  let at = 0
  while (at + 2 <= bytes.length) {
    const opcode = (bytes[at] as number) & 0x0f
    const short = (bytes[at + 1] as number) & 0x7f
    const headerLength = short === 126 ? 4 : short === 127 ? 10 : 2
    if (at + headerLength > bytes.length) break
    const length = short === 126 ? bytes.readUInt16BE(at + 2) : short === 127 ? Number(bytes.readBigUInt64BE(at + 2)) : short
    if (at + headerLength + length > bytes.length) break
    frames.push({ opcode })
    at += headerLength + length
  }
  return frames
}
