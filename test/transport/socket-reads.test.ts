import { describe, expect, it } from "@effect/vitest"
import * as crypto from "node:crypto"
import * as net from "node:net"
import { adoptAccepted, type SocketReads, streamedReads } from "../../src/transport/socket-reads.js"
import { waitUntil } from "../support/poll.js"

/** A loopback server whose accepted connections go through `adopt`; resolves once listening. */
const serve = (adopt: (socket: net.Socket) => SocketReads) =>
  new Promise<{ server: net.Server; port: number; accepted: Array<SocketReads> }>((resolve) => {
    const accepted: Array<SocketReads> = []
    const server = net.createServer({ pauseOnConnect: true }, (socket) => void accepted.push(adopt(socket)))
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve({ server, port: typeof address === "object" && address !== null ? address.port : 0, accepted })
    })
  })

const connect = (port: number) =>
  new Promise<net.Socket>((resolve) => {
    const socket: net.Socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket))
  })

const closeServer = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()))

describe("reads of accepted connections into the shared buffer", () => {
  it("hands every byte over in order, also those read before a handler was set, two connections at once", async () => {
    const { server, port, accepted } = await serve(adoptAccepted)
    // Two connections at once: they share the buffer, so each must only ever see its own bytes.
    const payloads = [crypto.randomBytes(3 << 20), crypto.randomBytes(2 << 20)]
    const clients = await Promise.all(payloads.map(() => connect(port)))
    clients.forEach((client, i) => client.write((payloads[i] as Buffer).subarray(0, 1000)))
    await waitUntil("two connections", () => accepted.length === 2)
    const received = accepted.map((reads) => {
      expect(reads.borrowed).toBe(true)
      const parts: Array<Buffer> = []
      reads.onBytes((bytes) => void parts.push(Buffer.from(bytes)))
      return parts
    })
    clients.forEach((client, i) => client.end((payloads[i] as Buffer).subarray(1000)))
    const total = (parts: Array<Buffer>) => parts.reduce((sum, part) => sum + part.length, 0)
    await waitUntil("every byte", () => received.every((parts, i) => total(parts) === (payloads[i] as Buffer).length), 20_000)
    // The order of `accepted` may differ from the clients': match by content.
    const joined = received.map((parts) => Buffer.concat(parts))
    expect(joined.map((b) => b.length).sort()).toEqual(payloads.map((p) => p.length).sort())
    for (const bytes of joined) expect(payloads.some((p) => p.equals(bytes))).toBe(true)
    clients.forEach((client) => client.destroy())
    await closeServer(server)
  })

  it("sees the peer's close and releases the server's count of it; pause stops the reads until resume", async () => {
    const { server, port, accepted } = await serve(adoptAccepted)
    const client = await connect(port)
    await waitUntil("the connection", () => accepted.length === 1)
    const reads = accepted[0] as SocketReads
    let bytes = 0
    reads.onBytes((chunk) => void (bytes += chunk.length))
    reads.socket.pause()
    client.write(Buffer.alloc(10_000))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(bytes).toBe(0)
    reads.socket.resume()
    await waitUntil("the bytes after resume", () => bytes === 10_000)
    let closed = false
    reads.socket.on("close", () => void (closed = true))
    client.destroy()
    await waitUntil("close", () => closed)
    await closeServer(server) // would never call back if the server still counted the connection
  })

  it("holds one read, not all the peer sends, until a handler is set; then hands it over and reads on", async () => {
    const { server, port, accepted } = await serve(adoptAccepted)
    const client = await connect(port)
    const payload = crypto.randomBytes(4 << 20)
    client.write(payload)
    await waitUntil("the connection", () => accepted.length === 1)
    const reads = accepted[0] as SocketReads
    await waitUntil("the first read, then a pause", () => reads.socket.bytesRead > 0 && reads.socket.isPaused())
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(reads.socket.bytesRead).toBeLessThanOrEqual(64 * 1024) // one read of the shared buffer
    const parts: Array<Buffer> = []
    reads.onBytes((chunk) => void parts.push(Buffer.from(chunk)))
    await waitUntil("every byte", () => parts.reduce((sum, part) => sum + part.length, 0) === payload.length, 20_000)
    expect(Buffer.concat(parts).equals(payload)).toBe(true)
    client.destroy()
    await closeServer(server)
  })

  it("falls back to data events for a socket that was already read", async () => {
    const { server, port, accepted } = await serve((socket) => {
      socket.resume()
      return adoptAccepted(socket)
    })
    const client = await connect(port)
    await waitUntil("the connection", () => accepted.length === 1)
    const reads = accepted[0] as SocketReads
    expect(reads.borrowed).toBe(false)
    const parts: Array<Buffer> = []
    reads.onBytes((chunk) => void parts.push(chunk))
    client.end("hello")
    await waitUntil("hello", () => Buffer.concat(parts).toString() === "hello")
    await closeServer(server)
    expect(streamedReads(new net.Socket()).borrowed).toBe(false)
  })
})
