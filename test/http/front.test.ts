/**
 * The HTTP front: which request heads it serves itself and which it leaves to Node, and how it behaves
 * on real loopback connections — keep-alive, pipelining in order, a held request, a hand-off in the
 * middle of a connection, time limits, and a reader that does not read.
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import * as http from "node:http"
import * as net from "node:net"
import { type FrontReply, type FrontRequest, makeFront, parseHead } from "../../src/http/front.js"
import { waitUntil } from "../support/poll.js"

const head = (text: string) => Buffer.from(text.replace(/\n/g, "\r\n"))

describe("the front's request heads", () => {
  it("serves GET over HTTP/1.1 with an origin-form target; everything else is Node's", () => {
    const parsed = parseHead(head("GET /live/a/media.m3u8?_HLS_msn=3 HTTP/1.1\nHost: x\nConnection: keep-alive\n\n"), 16384, "1.2.3.4")
    expect(parsed).toEqual({
      kind: "request",
      request: { path: "/live/a/media.m3u8", search: "?_HLS_msn=3", remoteAddress: "1.2.3.4" },
      headBytes: head("GET /live/a/media.m3u8?_HLS_msn=3 HTTP/1.1\nHost: x\nConnection: keep-alive\n\n").length,
      close: false
    })
    expect(parseHead(head("GET /a/b HTTP/1.1\nConnection: Close\n\n"), 16384, "")).toMatchObject({ kind: "request", close: true })
    expect(parseHead(head("GET /a/b HTTP/1.1\nContent-Length: 0\n\n"), 16384, "")).toMatchObject({ kind: "request" })
    for (const other of [
      "POST /a/b HTTP/1.1\n\n",
      "HEAD /a/b HTTP/1.1\n\n",
      "GET /a/b HTTP/1.0\n\n",
      "GET http://x/a/b HTTP/1.1\n\n",
      "GET /a/b HTTP/1.1\nContent-Length: 5\n\n",
      "GET /a/b HTTP/1.1\nTransfer-Encoding: chunked\n\n",
      "GET /a/b HTTP/1.1\nUpgrade: websocket\nConnection: Upgrade\n\n",
      "GET /a/b HTTP/1.1\nExpect: 100-continue\n\n",
      "GET /a/b HTTP/1.1\n folded: header\n\n",
      "GET /a/b HTTP/1.1\nno colon\n\n",
      "GET /a b HTTP/1.1\n\n",
      "GET /a/\u00e9 HTTP/1.1\n\n"
    ])
      expect(parseHead(head(other), 16384, "").kind, other).toBe("node")
    expect(parseHead(head("GET /a/b HTTP/1.1\nHost: x\n"), 16384, "").kind).toBe("incomplete")
    expect(parseHead(Buffer.alloc(20000, 0x41), 16384, "").kind).toBe("node") // oversized: Node answers 431
  })
})

/** A front on a loopback port: `/fast/...` answered at once, `/hold/...` when `release()` is called; the rest goes to Node. */
const serve = async (options: { headerTimeoutMs?: number; maxQueuedBytes?: number; body?: Buffer } = {}) => {
  const held: Array<FrontReply> = []
  const seen: Array<FrontRequest> = []
  const node = http.createServer((request, response) => response.end(`node:${request.method}:${request.url}`))
  const front = makeFront({
    fast: (request, reply) => {
      if (request.path.startsWith("/fast/")) {
        seen.push(request)
        reply.send(200, "text/plain", options.body ?? Buffer.from(`fast:${request.path}${request.search}`), "no-cache")
        return true
      }
      if (request.path.startsWith("/hold/")) {
        held.push(reply)
        return true
      }
      return false
    },
    node,
    cors: "*",
    maxHeadBytes: 16384,
    headerTimeoutMs: options.headerTimeoutMs ?? 5000,
    keepAliveTimeoutMs: 5000,
    maxQueuedBytes: options.maxQueuedBytes ?? 1 << 20
  })
  const server = net.createServer(front.accept)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  node.emit("listening")
  const port = (server.address() as net.AddressInfo).port
  const release = (text: string) => held.shift()?.send(200, "text/plain", text, "no-cache")
  const close = () => {
    front.close()
    node.closeAllConnections()
    server.close()
  }
  closers.push(close)
  return { port, held, seen, release }
}
const closers: Array<() => void> = []
afterEach(() => closers.splice(0).forEach((close) => close()))

/** A raw connection that collects what it receives. */
const connect = async (port: number) => {
  const socket = net.connect({ port, host: "127.0.0.1" })
  await new Promise((resolve) => socket.once("connect", resolve))
  let received = ""
  let ended = false
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")))
  socket.on("close", () => (ended = true))
  socket.on("error", () => {})
  return {
    socket,
    send: (text: string) => socket.write(text.replace(/\n/g, "\r\n")),
    text: () => received,
    ended: () => ended,
    /** The bodies received so far (every answer here is short and has a Content-Length). */
    bodies: () => {
      const bodies: Array<string> = []
      let rest = received
      for (;;) {
        const end = rest.indexOf("\r\n\r\n")
        if (end < 0) return bodies
        const length = Number(/content-length: *(\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0)
        if (rest.length < end + 4 + length) return bodies
        bodies.push(rest.slice(end + 4, end + 4 + length))
        rest = rest.slice(end + 4 + length)
      }
    }
  }
}

describe("the front on real connections", () => {
  it("answers keep-alive and pipelined requests in order, a held one before those behind it", async () => {
    const { port, held, release } = await serve()
    const client = await connect(port)
    client.send("GET /fast/1 HTTP/1.1\nHost: x\n\nGET /hold/2 HTTP/1.1\nHost: x\n\nGET /fast/3?q=1 HTTP/1.1\nHost: x\n\n")
    await waitUntil("the held request parked", () => held.length === 1)
    await waitUntil("the first answer", () => client.bodies().length === 1)
    expect(client.bodies()).toEqual(["fast:/fast/1"])
    release("held:2")
    await waitUntil("all three answers", () => client.bodies().length === 3)
    expect(client.bodies()).toEqual(["fast:/fast/1", "held:2", "fast:/fast/3?q=1"])
    expect(client.text()).toMatch(/^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nContent-Length: 12\r\nAccess-Control-Allow-Origin: \*\r\nCache-Control: no-cache\r\nDate: /)
    expect(client.ended()).toBe(false)
    client.socket.destroy()
  })

  it("hands the connection to Node at the first request it does not serve, with the bytes read so far", async () => {
    const { port } = await serve()
    const client = await connect(port)
    client.send("GET /fast/1 HTTP/1.1\nHost: x\n\nGET /api/v1/streams HTTP/1.1\nHost: x\n\nGET /fast/2 HTTP/1.1\nHost: x\n\n")
    await waitUntil("three answers", () => client.bodies().length === 3)
    // Once Node has it, the connection stays Node's: /fast/2 is Node's answer too.
    expect(client.bodies()).toEqual(["fast:/fast/1", "node:GET:/api/v1/streams", "node:GET:/fast/2"])
    const post = await connect(port)
    post.send("POST /fast/1 HTTP/1.1\nHost: x\nContent-Length: 2\n\nhi")
    await waitUntil("Node's answer", () => post.bodies().length === 1)
    expect(post.bodies()).toEqual(["node:POST:/fast/1"])
    client.socket.destroy()
    post.socket.destroy()
  })

  it("Connection: close is honoured; a half-sent head gets 408 after the header timeout", async () => {
    const { port } = await serve({ headerTimeoutMs: 300 })
    const closing = await connect(port)
    closing.send("GET /fast/1 HTTP/1.1\nHost: x\nConnection: close\n\n")
    await waitUntil("closed after the answer", () => closing.ended())
    expect(closing.text()).toContain("Connection: close")
    expect(closing.bodies()).toEqual(["fast:/fast/1"])
    const slow = await connect(port)
    slow.send("GET /fast/1 HTTP/1.1\nHost:")
    await waitUntil("408 and closed", () => slow.ended(), 5000)
    expect(slow.text()).toMatch(/^HTTP\/1\.1 408 /)
  })

  it("a client that closes while its request is held is forgotten; another connection is unharmed", async () => {
    const { port, held, release } = await serve()
    const leaving = await connect(port)
    leaving.send("GET /hold/1 HTTP/1.1\nHost: x\n\n")
    await waitUntil("parked", () => held.length === 1)
    leaving.socket.destroy()
    await waitUntil("gone", () => leaving.ended())
    release("too late") // an answer to a closed connection goes nowhere
    const other = await connect(port)
    other.send("GET /fast/ok HTTP/1.1\nHost: x\n\n")
    await waitUntil("answered", () => other.bodies().length === 1)
    other.socket.destroy()
  })

  it("a reader that does not read stops being served before its queue passes the limit", async () => {
    const body = Buffer.alloc(256 * 1024, 1)
    const { port, seen } = await serve({ maxQueuedBytes: 512 * 1024, body })
    const reader = await connect(port)
    reader.socket.pause() // reads nothing: answers pile up in the kernel, then in the server's queue
    reader.send("GET /fast/x HTTP/1.1\nHost: x\n\n".repeat(400))
    await waitUntil("some requests taken", () => seen.length > 2)
    const taken = seen.length
    await new Promise((resolve) => setTimeout(resolve, 300))
    // Bounded: kernel buffers plus at most the limit and one answer, far from the 400 asked for.
    expect(seen.length).toBeLessThan(100)
    expect(seen.length - taken).toBeLessThan(100)
    reader.socket.resume()
    await waitUntil("all answered once read", () => seen.length === 400, 20_000)
    reader.socket.destroy()
  })
})
