/**
 * The WebSocket frame header a server puts before a binary message (RFC 6455 §5.2): FIN and opcode 0x2 in
 * the first byte, then the payload length — in 7 bits below 126, else 126 and 16 bits, else 127 and 64 bits,
 * network byte order — and no mask (§5.1: a server never masks). WS-FLV viewers get media this way, written
 * by the server beside the `ws` library's connection (which still reads the client's frames and answers
 * pings and closes): one header per tag, encoded once and shared by every WebSocket viewer.
 */

/** First byte of a single-frame binary message: FIN, no extension bits, opcode 0x2. */
const FIN_BINARY = 0x82

/** Bytes of the header of a binary message of `payloadLength` bytes: 2, 4 or 10. */
export const wsBinaryHeaderLength = (payloadLength: number): number => (payloadLength < 126 ? 2 : payloadLength <= 0xffff ? 4 : 10)

/** Writes the header of a binary message of `payloadLength` bytes at the start of `target`. */
export const writeWsBinaryHeader = (target: Uint8Array, payloadLength: number): void => {
  target[0] = FIN_BINARY
  if (payloadLength < 126) {
    target[1] = payloadLength
  } else if (payloadLength <= 0xffff) {
    target[1] = 126
    target[2] = payloadLength >>> 8
    target[3] = payloadLength & 0xff
  } else {
    target[1] = 127
    // The upper 32 bits: zero for any Buffer this server makes (the most significant bit must be 0).
    const high = Math.floor(payloadLength / 0x1_0000_0000)
    for (let i = 0; i < 4; i++) target[2 + i] = (high >>> (24 - 8 * i)) & 0xff
    for (let i = 0; i < 4; i++) target[6 + i] = (payloadLength >>> (24 - 8 * i)) & 0xff
  }
}

/** `payload` as one binary message (header and payload in one Buffer). */
export const wsBinaryMessage = (payload: Uint8Array): Buffer => {
  const headerLength = wsBinaryHeaderLength(payload.length)
  const message = Buffer.allocUnsafe(headerLength + payload.length)
  writeWsBinaryHeader(message, payload.length)
  message.set(payload, headerLength)
  return message
}
