/**
 * The first reader of every HTTP connection. LL-HLS viewers make ten small requests a second each
 * (a blocking playlist reload and a part per 200 ms), so at thousands of viewers the cost of a request
 * is the cost of the output: Node's HTTP machinery (a parser callback, an IncomingMessage, a
 * ServerResponse and their streams, header validation) costs several times what the answer does. Plain
 * `GET` requests the `fast` handler takes are parsed and answered here, on the socket, from prebuilt
 * bytes; the first request it does not take — anything else, a request with a body or an upgrade, a
 * malformed or oversized head — hands the connection, with the bytes read so far, to Node's HTTP server
 * for the rest of its life (`server.emit("connection", socket)`, which Node documents for this purpose).
 *
 * Requests on one connection are answered in order: while one is held (a blocking reload), later
 * pipelined ones wait, and reading pauses once a head's worth of bytes waits. A reader that does not
 * take its answers stops being served before its write queue passes `maxQueuedBytes`. Time limits are
 * checked by one sweep for all connections rather than a timer per request.
 */
import type * as http from "node:http"
import type * as net from "node:net"

export interface FrontRequest {
  /** The request target's path, still percent-encoded. */
  readonly path: string
  /** The query including its `?`, or "". */
  readonly search: string
  readonly remoteAddress: string
}

/** How a fast handler answers: exactly one `send`, now or later. */
export interface FrontReply {
  send(status: number, contentType: string, body: string | Uint8Array | ReadonlyArray<Uint8Array>, cacheControl: string): void
  /** Called when the connection goes before `send`: a parked request is forgotten. */
  onClose(listener: () => void): void
}

export interface FrontOptions {
  /** Takes a request (and answers it through the reply) or returns false to leave it, and the connection, to Node. */
  readonly fast: (request: FrontRequest, reply: FrontReply) => boolean
  /** Node's HTTP server that gets every connection the front lets go. */
  readonly node: http.Server
  readonly cors: string
  readonly maxHeadBytes: number
  readonly headerTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  /** Answers still unsent to a slow reader above which no further request of it is read. */
  readonly maxQueuedBytes: number
}

const REASONS: Record<number, string> = { 200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 503: "Service Unavailable" }

/** The Date header, rendered once a second. */
let dateSecond = 0
let dateText = ""
const httpDate = (now: number): string => {
  const second = Math.floor(now / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateText = new Date(second * 1000).toUTCString()
  }
  return dateText
}

const HEAD_END = Buffer.from("\r\n\r\n")
/** Shared responses kept whole, and the largest body that is. */
const HOT_RESPONSES = 32
const MAX_HOT_BODY = 1024 * 1024

type Parsed =
  | { readonly kind: "incomplete" }
  | { readonly kind: "node" }
  | { readonly kind: "request"; readonly request: FrontRequest; readonly headBytes: number; readonly close: boolean }

/**
 * Reads one request head from `buffer`. Only what the front serves is understood: `GET` with an
 * origin-form target over HTTP/1.1, no body, no upgrade; every other head — valid or not — is Node's.
 */
export const parseHead = (buffer: Buffer, maxHeadBytes: number, remoteAddress: string): Parsed => {
  const end = buffer.indexOf(HEAD_END)
  if (end < 0) return buffer.length > maxHeadBytes ? { kind: "node" } : { kind: "incomplete" }
  if (end > maxHeadBytes) return { kind: "node" }
  const head = buffer.toString("latin1", 0, end)
  const lineEnd = head.indexOf("\r\n")
  const requestLine = lineEnd < 0 ? head : head.slice(0, lineEnd)
  if (!requestLine.startsWith("GET /") || !requestLine.endsWith(" HTTP/1.1")) return { kind: "node" }
  const target = requestLine.slice(4, -9)
  // Characters a request target may not hold (spaces, controls, non-ASCII) are Node's to refuse.
  if (!/^[\x21-\x7e]+$/.test(target)) return { kind: "node" }
  let close = false
  if (lineEnd >= 0) {
    for (const line of head.slice(lineEnd + 2).split("\r\n")) {
      const colon = line.indexOf(":")
      if (colon <= 0 || line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) return { kind: "node" }
      const name = line.slice(0, colon).toLowerCase()
      if (name === "content-length") {
        if (line.slice(colon + 1).trim() !== "0") return { kind: "node" }
      } else if (name === "transfer-encoding" || name === "upgrade" || name === "expect") return { kind: "node" }
      else if (name === "connection" && /(^|[\s,])close($|[\s,])/i.test(line.slice(colon + 1))) close = true
    }
  }
  const query = target.indexOf("?")
  return {
    kind: "request",
    request: { path: query < 0 ? target : target.slice(0, query), search: query < 0 ? "" : target.slice(query), remoteAddress },
    headBytes: end + 4,
    close
  }
}

/** Serves the front on the connections of a listener: call `accept` with each (admitted) socket; `close` ends them all. */
export const makeFront = (options: FrontOptions) => {
  const live = new Set<Connection>()
  const sweep = setInterval(() => {
    const now = Date.now()
    for (const connection of live) connection.expireAt(now)
  }, Math.max(50, Math.min(1000, options.headerTimeoutMs))).unref()

  const renderHead = (status: number, contentType: string, length: number, cacheControl: string, close: boolean): string =>
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nContent-Type: ${contentType}\r\nContent-Length: ${length}\r\n` +
    `Access-Control-Allow-Origin: ${options.cors}\r\nCache-Control: ${cacheControl}\r\nDate: ${httpDate(Date.now())}\r\n` +
    (close ? "Connection: close\r\n\r\n" : keepAlive)
  const keepAlive = `Keep-Alive: timeout=${Math.floor(options.keepAliveTimeoutMs / 1000)}\r\n\r\n`
  /**
   * Whole keep-alive responses (head and body in one Buffer: one `write`, no writev) for the shared bodies
   * answered most recently — a thousand viewers ask for the same new part or playlist within a moment.
   * A few dozen are kept; the Date in the head is renewed each second.
   */
  const hot = new Map<Uint8Array, { readonly status: number; readonly second: number; readonly bytes: Buffer }>()
  const sharedResponse = (body: Uint8Array, status: number, contentType: string, cacheControl: string): Buffer => {
    const second = Math.floor(Date.now() / 1000)
    const known = hot.get(body)
    if (known !== undefined && known.status === status && known.second === second) return known.bytes
    const head = renderHead(status, contentType, body.length, cacheControl, false)
    const bytes = Buffer.allocUnsafe(head.length + body.length)
    bytes.write(head, 0, "latin1")
    bytes.set(body, head.length)
    hot.delete(body)
    hot.set(body, { status, second, bytes })
    if (hot.size > HOT_RESPONSES) for (const oldest of hot.keys()) if (hot.size > HOT_RESPONSES) hot.delete(oldest)
    return bytes
  }

  class Connection {
    private buffer: Buffer | undefined = undefined
    /** A request is being answered: later ones wait. */
    private busy = false
    private advancing = false
    private closing = false
    private closeListeners: Array<() => void> = []
    /** When the connection times out; what it answers then depends on whether a head is half read. */
    private deadline: number
    private readonly onData = (chunk: Buffer) => this.received(chunk)
    private readonly onDrain = () => this.next()
    private readonly onGone = () => this.gone()

    constructor(private readonly socket: net.Socket) {
      this.deadline = Date.now() + options.headerTimeoutMs
      live.add(this)
      socket.on("data", this.onData)
      socket.on("drain", this.onDrain)
      socket.on("close", this.onGone)
      // Errors end in "close"; without a listener they would be thrown.
      socket.on("error", noop)
    }

    private received(chunk: Buffer): void {
      if (this.buffer === undefined || this.buffer.length === 0) {
        // The first byte of a request starts its head's time limit.
        if (!this.busy) this.deadline = Date.now() + options.headerTimeoutMs
        this.buffer = chunk
      } else this.buffer = Buffer.concat([this.buffer, chunk])
      this.next()
    }

    /** Takes the next request if nothing is in the way (re-entered from a synchronous answer: the loop goes on instead). */
    private next(): void {
      if (this.advancing) return
      this.advancing = true
      try {
        while (!this.busy && !this.closing && this.buffer !== undefined && this.buffer.length > 0) {
          if (this.socket.writableLength > options.maxQueuedBytes) {
            this.socket.pause() // resumed on drain
            return
          }
          const whole = this.buffer
          const parsed = parseHead(whole, options.maxHeadBytes, this.socket.remoteAddress ?? "")
          if (parsed.kind === "incomplete") break
          if (parsed.kind === "node") return this.handOff()
          this.buffer = whole.length === parsed.headBytes ? undefined : whole.subarray(parsed.headBytes)
          this.busy = true
          this.deadline = Infinity
          if (!options.fast(parsed.request, this.reply(parsed.close))) {
            this.busy = false
            this.buffer = whole
            return this.handOff()
          }
        }
        // Pipelined requests wait while one is answered; a head's worth of them is as much as is read.
        if (this.busy && this.buffer !== undefined && this.buffer.length > options.maxHeadBytes) this.socket.pause()
        else if (this.socket.isPaused() && this.socket.writableLength <= options.maxQueuedBytes) this.socket.resume()
      } finally {
        this.advancing = false
      }
    }

    private reply(close: boolean): FrontReply {
      let sent = false
      return {
        send: (status, contentType, body, cacheControl) => {
          if (sent) return
          sent = true
          this.closeListeners = []
          if (this.socket.destroyed) return
          const socket = this.socket
          if (body instanceof Uint8Array && !close && body.length <= MAX_HOT_BODY) {
            // Parts and playlists are shared Buffers answered to every viewer: their response is built once (a second).
            socket.write(sharedResponse(body, status, contentType, cacheControl))
          } else {
            const chunks = asChunks(body)
            socket.cork()
            socket.write(renderHead(status, contentType, byteLength(chunks), cacheControl, close), "latin1")
            for (const chunk of chunks) socket.write(chunk)
            socket.uncork()
          }
          this.busy = false
          if (close) {
            this.closing = true
            socket.end()
            return
          }
          this.deadline = Date.now() + options.keepAliveTimeoutMs
          this.next()
        },
        onClose: (listener) => {
          if (!sent) this.closeListeners.push(listener)
        }
      }
    }

    /** The connection is Node's from here: the bytes read so far go back in front of the rest. */
    private handOff(): void {
      this.detach()
      const buffer = this.buffer
      this.buffer = undefined
      if (buffer !== undefined && buffer.length > 0) this.socket.unshift(buffer)
      options.node.emit("connection", this.socket)
      if (this.socket.isPaused()) this.socket.resume()
    }

    private detach(): void {
      live.delete(this)
      this.socket.off("data", this.onData)
      this.socket.off("drain", this.onDrain)
      this.socket.off("close", this.onGone)
      this.socket.off("error", noop)
    }

    private gone(): void {
      this.detach()
      const listeners = this.closeListeners
      this.closeListeners = []
      for (const listener of listeners) listener()
    }

    expireAt(now: number): void {
      if (now < this.deadline) return
      this.deadline = Infinity
      // A half-read head gets 408; an idle keep-alive connection just goes.
      if (this.buffer !== undefined && this.buffer.length > 0 && !this.busy) this.socket.end("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
      else this.socket.destroy()
    }

    destroy(): void {
      this.socket.destroy()
    }
  }

  return {
    accept: (socket: net.Socket): void => void new Connection(socket),
    /** Ends the connections the front still holds and its sweep. */
    close: (): void => {
      clearInterval(sweep)
      for (const connection of [...live]) connection.destroy()
    }
  } as const
}

const noop = () => {}

/** A body as the Buffers to write in order (a segment is its parts: shared, never concatenated). */
const asChunks = (body: string | Uint8Array | ReadonlyArray<Uint8Array>): ReadonlyArray<Uint8Array> =>
  typeof body === "string" ? [Buffer.from(body)] : body instanceof Uint8Array ? [body] : body

const byteLength = (chunks: ReadonlyArray<Uint8Array>): number => {
  let length = 0
  for (const chunk of chunks) length += chunk.length
  return length
}

/** The same answers through Node's ServerResponse, for requests that reached Node's server. */
export const replyThrough = (response: http.ServerResponse, cors: string): FrontReply => ({
  send: (status, contentType, body, cacheControl) => {
    const chunks = asChunks(body)
    response.writeHead(status, { "content-type": contentType, "content-length": byteLength(chunks), "access-control-allow-origin": cors, "cache-control": cacheControl })
    response.cork()
    for (const chunk of chunks) response.write(chunk)
    response.end()
    response.uncork()
  },
  onClose: (listener) => void response.once("close", listener)
})
