/**
 * The `ws` library's frame reader (its `Receiver`, which its type declarations leave out) as an independent
 * parser of what the server writes to a WebSocket: unmasked frames, read as a client reads them.
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
