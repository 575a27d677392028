/**
 * Batches socket writes made while one incoming read is processed: the first write to a socket corks
 * it, the end of the batch uncorks every touched socket, so a player gets one writev per publisher read
 * instead of one write per message. Nothing waits for a later event-loop turn, so no latency is added.
 */
import type * as net from "node:net"

let depth = 0
const corked: Array<net.Socket> = []
/**
 * Which batch last corked a socket, kept on the socket itself: a WeakSet's add and delete per socket and
 * batch (ephemeron hash tables) showed in the fan-out profile, and a Set allocates a new table per batch.
 */
const corkedIn = Symbol("effect-rtmp/corkedInBatch")
type Marked = net.Socket & { [corkedIn]?: number }
let batch = 0

/** Corks `socket` until the current batch ends (nothing outside a batch); for writers that frame their own writes. */
export const corkForBatch = (socket: net.Socket): void => {
  const marked = socket as Marked
  if (depth > 0 && marked[corkedIn] !== batch) {
    marked[corkedIn] = batch
    corked.push(socket)
    socket.cork()
  }
}

/** Writes `bytes`, corking the socket until the current batch ends (or at once outside a batch). */
export const batchedWrite = (socket: net.Socket, bytes: Uint8Array): void => {
  corkForBatch(socket)
  socket.write(bytes)
}

/** Runs `f` as one batch; batches nest, and the outermost one flushes. */
export const inBatch = (f: () => void): void => {
  depth++
  try {
    f()
  } finally {
    if (--depth === 0) {
      batch++
      for (let i = 0; i < corked.length; i++) (corked[i] as net.Socket).uncork()
      corked.length = 0
    }
  }
}
