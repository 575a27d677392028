/**
 * What the flood tests send: RTMP ping requests in bulk, and writes that let a peer which stopped reading fill
 * its buffers, without the sender's own queue growing past one write.
 */
import type * as net from "node:net"
import { encodeMessage } from "../../src/protocol/chunk-writer.js"

/** As many ping requests (User Control event 6) as fit in `totalBytes`, in one Buffer: each asks for an 18-byte answer. */
export const pingRequests = (totalBytes: number): Buffer => {
  const ping = encodeMessage(2, 4, 0, 0, Buffer.from([0, 6, 0, 0, 0, 0]), 128)
  return Buffer.concat(Array.from({ length: Math.floor(totalBytes / ping.length) }, () => ping))
}

/** Writes `bytes`; when that fills the socket's queue, waits for it to drain, at most `maxWaitMs`. */
export const writeThenDrain = async (socket: net.Socket, bytes: Buffer, maxWaitMs: number): Promise<void> => {
  if (socket.write(bytes)) return
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer)
      socket.off("drain", done)
      resolve()
    }
    const timer = setTimeout(done, maxWaitMs)
    socket.once("drain", done)
  })
}
