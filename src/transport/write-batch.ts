/**
 * Batches socket writes made while one incoming read is processed: the first write to a socket corks
 * it, the end of the batch uncorks every touched socket, so a player gets one writev per publisher read
 * instead of one write per message. Nothing waits for a later event-loop turn, so no latency is added.
 *
 * A socket may instead be given a merge window (`mergeWrites`, the server's `--merge-writes`): it then
 * stays corked for that long after a batch touched it, so the writes of every batch in the window go out
 * as one. Fewer, larger writes cost less per byte (system calls, and the reader's wake-ups) for that much
 * delay: SRS's `mw_latency`. One timer per window length serves all sockets, not one per socket or write.
 */
import type * as net from "node:net"

let depth = 0
const corked: Array<net.Socket> = []
/**
 * Which batch last corked a socket, kept on the socket itself: a WeakSet's add and delete per socket and
 * batch (ephemeron hash tables) showed in the fan-out profile, and a Set allocates a new table per batch.
 */
const corkedIn = Symbol("effect-rtmp/corkedInBatch")
/** The socket's merge window in milliseconds, and whether it is corked waiting for that window to end. */
const mergeWindow = Symbol("effect-rtmp/mergeWindow")
const merging = Symbol("effect-rtmp/merging")
/** Bytes written to the socket since its window opened: held on purpose, not queued behind a slow reader. */
const held = Symbol("effect-rtmp/heldBytes")
type Marked = net.Socket & { [corkedIn]?: number; [mergeWindow]?: number | undefined; [merging]?: boolean; [held]?: number }
let batch = 0

/** The sockets waiting for one window length to end, and the timer that ends it. */
interface MergeGroup {
  sockets: Array<net.Socket>
  timer: ReturnType<typeof setTimeout> | undefined
  readonly flush: () => void
}
const groups = new Map<number, MergeGroup>()

const mergeGroup = (window: number): MergeGroup => {
  const known = groups.get(window)
  if (known !== undefined) return known
  const group: MergeGroup = {
    sockets: [],
    timer: undefined,
    flush: () => {
      group.timer = undefined
      const sockets = group.sockets
      group.sockets = []
      for (let i = 0; i < sockets.length; i++) {
        const socket = sockets[i] as Marked
        socket[merging] = false
        socket[held] = 0
        socket.uncork()
      }
    }
  }
  groups.set(window, group)
  return group
}

/**
 * From now on, holds what batches write to `socket` for up to `millis` and sends it as one write
 * (0: at the end of each batch). For viewers, whose bytes only flow one way; writes outside a batch still
 * join a window that is open.
 */
export const mergeWrites = (socket: net.Socket, millis: number): void => {
  const marked = socket as Marked
  marked[mergeWindow] = millis > 0 ? millis : undefined
  if (marked[merging] !== true) marked[held] = 0 // an open window resets it when it ends
}

/**
 * Corks `socket` until the current batch ends (nothing outside a batch); for writers that frame their own
 * writes, which say how many bytes they are about to write.
 */
export const corkForBatch = (socket: net.Socket, length: number): void => {
  const marked = socket as Marked
  if (marked[mergeWindow] !== undefined && (depth > 0 || marked[merging] === true)) marked[held] = (marked[held] ?? 0) + length
  if (depth > 0 && marked[corkedIn] !== batch && marked[merging] !== true) {
    marked[corkedIn] = batch
    corked.push(socket)
    socket.cork()
  }
}

/** Writes `bytes`, corking the socket until the current batch ends (or at once outside a batch). */
export const batchedWrite = (socket: net.Socket, bytes: Uint8Array): void => {
  corkForBatch(socket, bytes.length)
  socket.write(bytes)
}

/**
 * Of `queued` bytes not yet taken by the socket (its `writableLength`), those behind a slow reader: what a
 * merge window holds on purpose is not the reader's backlog (a viewer must not be taken for slow for it).
 */
export const backlogOf = (socket: net.Socket, queued: number): number => Math.max(0, queued - ((socket as Marked)[held] ?? 0))

/** Keeps `socket` corked until its merge window ends. */
const hold = (socket: Marked, window: number): void => {
  socket[merging] = true
  const group = mergeGroup(window)
  group.sockets.push(socket)
  if (group.timer === undefined) {
    group.timer = setTimeout(group.flush, window)
    group.timer.unref()
  }
}

/** Runs `f` as one batch; batches nest, and the outermost one flushes. */
export const inBatch = (f: () => void): void => inBatchWith(f, undefined)

/**
 * Runs `f(input)` as one batch: for the per-read path, where `inBatch(() => f(input))` would allocate a
 * closure per read.
 */
export const inBatchWith = <A>(f: (input: A) => void, input: A): void => {
  depth++
  try {
    f(input)
  } finally {
    if (--depth === 0) {
      batch++
      // Most reads of an ingest server write nothing: the array is left alone then (setting the length
      // of even an empty array is a runtime call, ~2 % of the ingest's JavaScript time per read).
      if (corked.length > 0) flushCorked()
    }
  }
}

const flushCorked = (): void => {
  for (let i = 0; i < corked.length; i++) {
    const socket = corked[i] as Marked
    const window = socket[mergeWindow]
    if (window === undefined) socket.uncork()
    else hold(socket, window)
  }
  corked.length = 0
}
