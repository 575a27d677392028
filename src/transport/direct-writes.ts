/**
 * Writes to a plain TCP socket's libuv handle without its Writable stream: what `socket.write` ends in
 * (`handle.writev` / `handle.writeBuffer` with a `WriteWrap` request), minus the stream's bookkeeping per
 * write — the queue entry, the callback, the `nextTick` after every write and their garbage. With 1,000
 * players that bookkeeping was a fifth of the server's JavaScript time and ~12 MB/s of garbage (Node's
 * `Writable` was nearly all the fan-out allocated), which also grew V8's young generation.
 *
 * It relies on Node's stream binding (`process.binding("stream_wrap")`: a legacy API Node keeps for
 * compatibility, whose write request `net` itself uses and which has not changed since Node 10). Where it is
 * missing or a socket is anything but a plain TCP socket (TLS, a test double), `directHandle` answers
 * undefined and the caller writes through the socket as usual.
 *
 * Order: libuv writes a handle's requests in the order they were made, so bytes written here and through
 * `socket.write` stay in order as long as the socket's own queue is empty when a direct write is made
 * (`directHandle` checks) — and nothing is written through the socket between the caller's direct writes
 * (see write-batch: a socket is ended through `endSocket`, which flushes them first).
 */
import type * as net from "node:net"
import { getSystemErrorName } from "node:util"

/** Node's write request as its C++ side uses it: the handle, and `oncomplete` called when a waiting write ends. */
interface WriteRequest {
  handle: TcpHandle
  oncomplete: (this: WriteRequest, status: number) => void
  /** What libuv still reads from (a Buffer or the chunk list), kept alive until the write completes, and whose writes they are. */
  keep: unknown
  target: DirectTarget | undefined
}

/**
 * Whose direct writes these are: the socket (destroyed when a write fails) and the count of its writes libuv
 * still holds, kept here rather than on the socket so that the fan-out can know a player's backlog without
 * reading the socket (a large object; read per player and frame, it was a cache miss each time).
 */
export interface DirectTarget {
  readonly socket: net.Socket
  inFlight: number
}

export interface TcpHandle {
  writev(request: WriteRequest, chunks: Array<Uint8Array>, allBuffers: boolean): number
  writeBuffer(request: WriteRequest, bytes: Uint8Array): number
  /** Bytes libuv has been given but the kernel has not taken yet. */
  readonly writeQueueSize: number
}

interface StreamWrapBinding {
  readonly WriteWrap: new () => WriteRequest
  readonly streamBaseState: Int32Array
  readonly kLastWriteWasAsync: number
}

interface TcpWrapBinding {
  readonly TCP: abstract new (...args: Array<never>) => object
}

const bindings = ((): { readonly stream: StreamWrapBinding; readonly tcp: TcpWrapBinding } | undefined => {
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding
  if (typeof binding !== "function") return undefined
  try {
    const stream = binding("stream_wrap") as Partial<StreamWrapBinding>
    const tcp = binding("tcp_wrap") as Partial<TcpWrapBinding>
    if (typeof stream.WriteWrap !== "function" || !(stream.streamBaseState instanceof Int32Array) || typeof stream.kLastWriteWasAsync !== "number") return undefined
    if (typeof tcp.TCP !== "function") return undefined
    return { stream: stream as StreamWrapBinding, tcp: tcp as TcpWrapBinding }
  } catch {
    return undefined
  }
})()

/** Whether this Node offers direct writes at all (a test checks it, so that a Node upgrade cannot silently lose them). */
export const directWritesAvailable = bindings !== undefined

type DirectSocket = net.Socket & { _handle?: unknown }

/**
 * The socket's TCP handle when a direct write may be made now: a plain TCP socket, connected, not ended, its
 * own queue empty and not corked (else a direct write would overtake what the socket still holds).
 */
export const directHandle = (socket: net.Socket): TcpHandle | undefined => {
  if (bindings === undefined) return undefined
  const handle = (socket as DirectSocket)._handle
  if (!(handle instanceof bindings.tcp.TCP)) return undefined
  if (socket.connecting || socket.writableLength > 0 || socket.writableCorked > 0 || socket.writableEnded || socket.destroyed) return undefined
  return handle as unknown as TcpHandle
}

function completed(this: WriteRequest, status: number): void {
  const target = this.target
  this.keep = undefined
  this.target = undefined
  if (target === undefined) return
  target.inFlight--
  if (status < 0 && !target.socket.destroyed) target.socket.destroy(writeError(status))
}

const writeError = (status: number): Error => {
  const code = getSystemErrorName(status)
  return Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: "write" })
}

/**
 * The request object of the last write the kernel took at once: libuv never saw it, so the next write
 * reuses it (a write that waits makes the request libuv's until it completes). Likewise one array per
 * chunk count carries the chunks to `writev`. With a write per player and publisher read, objects made
 * per write were most of what the fan-out allocated.
 */
let spare: WriteRequest | undefined = undefined
const NOTHING = new Uint8Array(0)
const lists: Array<Array<Uint8Array> | undefined> = []

/**
 * Writes the first `count` of `chunks` (in order) to `target`'s socket through `handle` (from `directHandle`);
 * the caller may reuse `chunks` at once. A failed write destroys the socket with the error, as `socket.write`
 * would; so does a write to a handle closed meanwhile (libuv refuses it).
 */
export const writeDirect = (target: DirectTarget, handle: TcpHandle, chunks: ReadonlyArray<Uint8Array | undefined>, count: number): void => {
  const binding = (bindings as { readonly stream: StreamWrapBinding }).stream
  let request = spare
  spare = undefined
  if (request === undefined) {
    request = new binding.WriteWrap()
    request.oncomplete = completed
    request.keep = undefined
    request.target = undefined
  }
  request.handle = handle
  let status: number
  let list: Array<Uint8Array> | undefined = undefined
  if (count === 1) {
    status = handle.writeBuffer(request, chunks[0] as Uint8Array)
  } else {
    list = lists[count] ?? new Array<Uint8Array>(count)
    lists[count] = undefined
    for (let i = 0; i < count; i++) list[i] = chunks[i] as Uint8Array
    status = handle.writev(request, list, true)
  }
  if (status !== 0) {
    if (!target.socket.destroyed) target.socket.destroy(writeError(status))
    return
  }
  if (binding.streamBaseState[binding.kLastWriteWasAsync] === 0) {
    spare = request
    if (list !== undefined) {
      // Keeps no frame alive until its next use; a loop, since `fill` on this holey array is a call into
      // V8's runtime (~1 % of the server's CPU at 100 players in `perf`).
      for (let i = 0; i < count; i++) list[i] = NOTHING
      lists[count] = list
    }
    return
  }
  // libuv reads from these until the write completes.
  request.keep = list ?? chunks[0]
  request.target = target
  target.inFlight++
}

/** Bytes of `target`'s direct writes the kernel has not taken yet (a slow reader's backlog, beside `writableLength`). */
export const directBacklog = (target: DirectTarget): number => {
  if (target.inFlight === 0) return 0
  const handle = (target.socket as DirectSocket)._handle as Partial<TcpHandle> | null | undefined
  return handle?.writeQueueSize ?? 0
}
