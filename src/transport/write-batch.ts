/**
 * Batches socket writes made while one incoming read is processed: the first write to a socket corks
 * it, the end of the batch uncorks every touched socket, so a player gets one writev per publisher read
 * instead of one write per message. Nothing waits for a later event-loop turn, so no latency is added.
 *
 * A socket may instead be given a merge window (`mergeWrites`, the server's `--merge-writes`): it then
 * stays corked for that long after a batch touched it, so the writes of every batch in the window go out
 * as one. Fewer, larger writes cost less per byte (system calls, and the reader's wake-ups) for that much
 * delay: SRS's `mw_latency`. One timer per window length serves all sockets, not one per socket or write.
 *
 * A plain TCP socket without a merge window skips corking: a batch's writes to it are gathered here and
 * handed to its handle as one write at the batch's end (see direct-writes), not through its Writable.
 * Such a socket is ended through `endSocket`, which sends what the batch gathered first.
 *
 * A socket whose every write goes through here (`ownWrites`: an RTMP connection's) has its handle remembered
 * once its Writable is empty, and from then on all its writes, in a batch or not, go to the handle: the
 * fan-out then reaches a player's socket object only to end it, where it read it per player and frame.
 */
import type * as net from "node:net"
import { type DirectTarget, directBacklog, directHandle, type TcpHandle, writeDirect } from "./direct-writes.js"

let depth = 0
const corked: Array<net.Socket> = []
/**
 * What batching knows of a socket, in one object of one class behind one property of the socket. The fan-out
 * reads and writes these per player and frame; kept as seven properties added to sockets one at a time, in
 * whatever order each socket first needed them, they gave sockets many shapes and made those lookups
 * megamorphic. (Kept on the socket, not in a WeakMap: its ephemeron lookups showed in the fan-out profile.)
 */
export class SocketWrites implements DirectTarget {
  /** Which batch last corked the socket. */
  corkedIn = -1
  /** The socket's merge window in milliseconds, and whether it is corked waiting for that window to end. */
  mergeWindow: number | undefined = undefined
  merging = false
  /** Bytes written to the socket since its window opened: held on purpose, not queued behind a slow reader. */
  held = 0
  /**
   * What the current batch wrote to the socket, for one direct write at its end: the first four writes in
   * fields of this object, the rest (rare: a join burst) in `more`. An array of its own would be two more
   * objects the fan-out reaches per player and frame (the array and its storage); each was a cache miss.
   */
  first: Uint8Array | undefined = undefined
  second: Uint8Array | undefined = undefined
  third: Uint8Array | undefined = undefined
  fourth: Uint8Array | undefined = undefined
  /** The fifth write on; the array only grows (emptying it would free its storage). */
  more: Array<Uint8Array | undefined> | undefined = undefined
  gatheredCount = 0
  gatheredBytes = 0
  /** Direct writes libuv still holds (a slow reader's). */
  inFlight = 0
  /** Every write to the socket goes through this module (`ownWrites`), none through `socket.write` elsewhere. */
  owned = false
  /**
   * An owned socket's TCP handle, remembered when its Writable was empty: every write since went to the
   * handle, so the Writable is still empty and the checks of `directHandle` need not be made again.
   */
  handle: TcpHandle | undefined = undefined

  constructor(readonly socket: net.Socket) {}
}
const writesKey = Symbol("effect-rtmp/socketWrites")
type Marked = net.Socket & { [writesKey]?: SocketWrites }
/** What batching knows of `socket`, for `writeTo` and `backlogIn`: looked up once, not per write. */
export const socketWrites = (socket: net.Socket): SocketWrites =>
  (socket as Marked)[writesKey] ?? ((socket as Marked)[writesKey] = new SocketWrites(socket))

/**
 * Declares that from now on every write to `socket` goes through `writeTo` / `batchedWrite` and `endSocket`
 * (not `socket.write`, `cork` or `end`, by anyone): its handle can then be remembered (see `SocketWrites.handle`).
 * Returns what the hot path passes to `writeTo` and `backlogIn`, so that it never looks the socket up.
 */
export const ownWrites = (socket: net.Socket): SocketWrites => {
  const writes = socketWrites(socket)
  writes.owned = true
  return writes
}

/** The handle a direct write to the socket may use now, if any (remembered for an owned socket). */
const handleFor = (writes: SocketWrites): TcpHandle | undefined => {
  if (writes.handle !== undefined) return writes.handle
  const handle = directHandle(writes.socket)
  if (writes.owned) writes.handle = handle
  return handle
}
let batch = 0
/**
 * The sockets whose writes the current batch gathered: the first `gatheredSockets` entries. The array only
 * grows (to the most players one read reached), as emptying it would free its storage every batch.
 */
const gatheredIn: Array<SocketWrites | undefined> = []
let gatheredSockets = 0

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
        const socket = sockets[i] as net.Socket
        const writes = socketWrites(socket)
        writes.merging = false
        writes.held = 0
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
  const writes = socketWrites(socket)
  writes.mergeWindow = millis > 0 ? millis : undefined
  if (writes.mergeWindow !== undefined) writes.handle = undefined // a window corks the socket's Writable
  if (!writes.merging) writes.held = 0 // an open window resets it when it ends
}

const corkWith = (socket: net.Socket, writes: SocketWrites, length: number): void => {
  if (writes.mergeWindow !== undefined && (depth > 0 || writes.merging)) writes.held += length
  if (depth > 0 && writes.corkedIn !== batch && !writes.merging) {
    writes.corkedIn = batch
    corked.push(socket)
    socket.cork()
  }
}

/**
 * Writes `bytes`: inside a batch, gathered for one direct write at its end (a plain TCP socket without a
 * merge window), or corked until the batch ends; outside a batch, at once.
 */
export const batchedWrite = (socket: net.Socket, bytes: Uint8Array): void => writeTo(socketWrites(socket), bytes)

/** Outside a batch, an owned socket's write with a remembered handle: one chunk, sent at once. */
const single: Array<Uint8Array | undefined> = [undefined]

/** `batchedWrite` to the socket of `writes` (from `ownWrites`). */
export const writeTo = (writes: SocketWrites, bytes: Uint8Array): void => {
  if (writes.mergeWindow === undefined) {
    if (depth > 0) {
      const count = writes.gatheredCount
      if (count > 0 || handleFor(writes) !== undefined) {
        if (count === 0) writes.first = bytes
        else if (count === 1) writes.second = bytes
        else if (count === 2) writes.third = bytes
        else if (count === 3) writes.fourth = bytes
        else (writes.more ??= [])[count - 4] = bytes
        writes.gatheredCount = count + 1
        writes.gatheredBytes += bytes.length // zeroed when sent
        if (count === 0) gatheredIn[gatheredSockets++] = writes
        return
      }
    } else if (writes.handle !== undefined) {
      // Through the Writable, it could be queued there and overtaken by the next direct write.
      single[0] = bytes
      writeDirect(writes, writes.handle, single, 1)
      single[0] = undefined
      return
    }
  }
  corkWith(writes.socket, writes, bytes.length)
  writes.socket.write(bytes)
}

/**
 * Sends now what the current batch gathered for `socket`, in one write to its handle: before anything else
 * writes to it (a WebSocket library's close frame, an `end`), so that nothing overtakes the batch's bytes.
 */
export const sendGathered = (socket: net.Socket): void => {
  const writes = (socket as Marked)[writesKey]
  if (writes !== undefined) sendGatheredOf(writes)
}

/** What one socket's gathered writes are handed over in: shared, as they are sent one socket at a time. */
const chunks: Array<Uint8Array | undefined> = []

const sendGatheredOf = (writes: SocketWrites): void => {
  if (writes.gatheredCount === 0) return
  const count = writes.gatheredCount
  const socket = writes.socket
  chunks[0] = writes.first
  chunks[1] = writes.second
  chunks[2] = writes.third
  chunks[3] = writes.fourth
  writes.first = writes.second = writes.third = writes.fourth = undefined
  const more = writes.more
  if (more !== undefined) {
    for (let i = 4; i < count; i++) {
      chunks[i] = more[i - 4]
      more[i - 4] = undefined
    }
  }
  writes.gatheredCount = 0
  writes.gatheredBytes = 0
  const handle = handleFor(writes)
  if (handle !== undefined) writeDirect(writes, handle, chunks, count)
  else if (!socket.destroyed && !socket.writableEnded) {
    // Something was written through the socket meanwhile (it now holds a queue): these follow it there.
    for (let i = 0; i < count; i++) socket.write(chunks[i] as Uint8Array)
  }
  // Otherwise closed meanwhile: what it gathered goes nowhere, as it would from a destroyed socket's queue.
  for (let i = 0; i < count; i++) chunks[i] = undefined
}

/** Ends `socket` gracefully after what the current batch gathered for it (use instead of `socket.end()`). */
export const endSocket = (socket: net.Socket, data?: string): void => {
  const writes = (socket as Marked)[writesKey]
  if (writes !== undefined) {
    sendGatheredOf(writes)
    // What follows (the end, and any write after it) goes through the Writable, which reports it.
    writes.owned = false
    writes.handle = undefined
  }
  if (data === undefined) socket.end()
  else socket.end(data)
}

/**
 * Of `queued` bytes not yet taken by the socket (its `writableLength`) — with what the batch gathered for it
 * and its direct writes the kernel has not taken — those behind a slow reader: what a merge window holds on
 * purpose is not the reader's backlog (a viewer must not be taken for slow for it).
 */
export const backlogOf = (socket: net.Socket, queued: number): number => {
  const writes = (socket as Marked)[writesKey]
  return writes === undefined ? queued : backlogBeside(writes, queued)
}

/** `backlogOf` the socket of `writes` and its `writableLength` — which is 0 while its handle is remembered, unread then. */
export const backlogIn = (writes: SocketWrites): number => backlogBeside(writes, writes.handle === undefined ? writes.socket.writableLength : 0)

const backlogBeside = (writes: SocketWrites, queued: number): number =>
  Math.max(0, queued + writes.gatheredBytes + directBacklog(writes) - writes.held)

/**
 * An output's way to its socket through write batching (an RTMP player's, an HTTP-FLV or WS-FLV viewer's):
 * an object of its own, not closures, which the fan-out would reach through a function and its context —
 * with many viewers, each a cache miss per viewer and frame.
 */
export class BatchedOutput {
  constructor(protected readonly writes: SocketWrites) {}

  write(bytes: Uint8Array): void {
    writeTo(this.writes, bytes)
  }

  /** Bytes behind a slow reader (see `backlogOf`). */
  queuedBytes(): number {
    return backlogIn(this.writes)
  }
}

/** Keeps `socket` corked until its merge window ends. */
const hold = (socket: net.Socket, writes: SocketWrites, window: number): void => {
  writes.merging = true
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
      if (gatheredSockets > 0) sendAllGathered()
    }
  }
}

const sendAllGathered = (): void => {
  const count = gatheredSockets
  gatheredSockets = 0
  for (let i = 0; i < count; i++) {
    sendGatheredOf(gatheredIn[i] as SocketWrites)
    gatheredIn[i] = undefined
  }
}

const flushCorked = (): void => {
  for (let i = 0; i < corked.length; i++) {
    const socket = corked[i] as net.Socket
    const writes = socketWrites(socket)
    const window = writes.mergeWindow
    if (window === undefined) socket.uncork()
    else hold(socket, writes, window)
  }
  corked.length = 0
}
