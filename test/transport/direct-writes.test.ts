import { describe, expect, it } from "@effect/vitest"
import * as crypto from "node:crypto"
import * as net from "node:net"
import { directHandle, directWritesAvailable } from "../../src/transport/direct-writes.js"
import { backlogIn, backlogOf, batchedWrite, endSocket, inBatch, mergeWrites, ownWrites, writeTo } from "../../src/transport/write-batch.js"
import { waitUntil } from "../support/poll.js"

/** A loopback pair: the server's accepted socket (written to) and the client (reading). */
const pair = () =>
  new Promise<{ server: net.Server; writer: net.Socket; reader: net.Socket }>((resolve) => {
    const server = net.createServer((writer) => resolve({ server, writer, reader }))
    let reader: net.Socket
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      reader = net.connect({ host: "127.0.0.1", port: typeof address === "object" && address !== null ? address.port : 0 })
    })
  })

const closeServer = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()))

const collect = (socket: net.Socket) => {
  const parts: Array<Buffer> = []
  let ended = false
  socket.on("data", (bytes: Buffer) => void parts.push(bytes))
  socket.on("end", () => void (ended = true))
  return { bytes: () => Buffer.concat(parts), length: () => parts.reduce((sum, part) => sum + part.length, 0), ended: () => ended }
}

/**
 * The two ways a socket is written: looked up per write (HTTP-FLV, WS-FLV: others write to the socket too),
 * or owned (an RTMP connection: every write goes through write-batch, and its handle is remembered).
 */
const modes = [
  {
    name: "a socket looked up per write",
    writer: (socket: net.Socket) => ({
      write: (bytes: Uint8Array) => batchedWrite(socket, bytes),
      backlog: () => backlogOf(socket, socket.writableLength)
    })
  },
  {
    name: "an owned socket (its handle remembered)",
    writer: (socket: net.Socket) => {
      const writes = ownWrites(socket)
      return { write: (bytes: Uint8Array) => writeTo(writes, bytes), backlog: () => backlogIn(writes) }
    }
  }
]

describe("direct writes to a TCP handle (write batches)", () => {
  it("are available on this Node: a Node whose stream binding changed would silently fall back to the Writable", () => {
    expect(directWritesAvailable).toBe(true)
  })

  it.each(modes)("deliver every byte in order, batches mixed with writes outside a batch: $name", async (mode) => {
    const { server, writer, reader } = await pair()
    const { write } = mode.writer(writer)
    const received = collect(reader)
    expect(directHandle(writer)).toBeDefined()
    const expected: Array<Buffer> = []
    for (let i = 0; i < 300; i++) {
      // 1 to 7 writes a batch: the first four are held in fields of their own, the rest in an array.
      const chunks = Array.from({ length: 1 + (i % 7) }, () => crypto.randomBytes(1 + ((i * 7919) % 9000)))
      expected.push(...chunks)
      if (i % 5 === 4) chunks.forEach(write) // outside a batch: the Writable, or the remembered handle
      else inBatch(() => chunks.forEach(write))
    }
    const all = Buffer.concat(expected)
    await waitUntil("every byte", () => received.length() >= all.length)
    expect(received.bytes().equals(all)).toBe(true)
    reader.destroy()
    writer.destroy()
    await closeServer(server)
  })

  it.each(modes)("count what a stalled reader has not taken in the backlog, and deliver it all once it reads again: $name", async (mode) => {
    const { server, writer, reader } = await pair()
    const { write, backlog } = mode.writer(writer)
    reader.pause()
    const chunk = crypto.randomBytes(64 * 1024)
    let written = 0
    // Far more than the kernel's socket buffers hold: the rest waits in libuv's queue.
    for (let i = 0; i < 128; i++) {
      if (i % 8 === 7) write(chunk) // outside a batch, behind the waiting ones
      else {
        inBatch(() => {
          write(chunk)
          // Inside the batch, gathered bytes already count, as corked ones did.
          expect(backlog()).toBeGreaterThanOrEqual(chunk.length)
        })
      }
      written += chunk.length
    }
    expect(backlog()).toBeGreaterThan(1024 * 1024)
    const received = collect(reader)
    reader.resume()
    await waitUntil("every byte", () => received.length() >= written)
    await waitUntil("an empty backlog", () => backlog() === 0)
    const bytes = received.bytes()
    for (let i = 0; i < 128; i++) expect(bytes.subarray(i * chunk.length, (i + 1) * chunk.length).equals(chunk)).toBe(true)
    reader.destroy()
    writer.destroy()
    await closeServer(server)
  })

  it("what a batch gathered is not lost when the socket queued a write of its own meanwhile: it follows that write", async () => {
    const { server, writer, reader } = await pair()
    reader.pause()
    const gathered = crypto.randomBytes(1000)
    const own = crypto.randomBytes(16 * 1024 * 1024) // more than the kernel takes: the socket keeps a queue
    inBatch(() => {
      batchedWrite(writer, gathered)
      writer.write(own)
      expect(writer.writableLength).toBeGreaterThan(0)
    })
    const received = collect(reader)
    reader.resume()
    await waitUntil("every byte", () => received.length() >= own.length + gathered.length)
    expect(received.bytes().equals(Buffer.concat([own, gathered]))).toBe(true)
    reader.destroy()
    writer.destroy()
    await closeServer(server)
  })

  it.each(modes)("endSocket sends what the batch gathered before the end of the stream: $name", async (mode) => {
    const { server, writer, reader } = await pair()
    const { write } = mode.writer(writer)
    const received = collect(reader)
    write(Buffer.from("first, "))
    inBatch(() => {
      write(Buffer.from("last frame"))
      endSocket(writer)
    })
    await waitUntil("the end of the stream", () => received.ended())
    expect(received.bytes().toString()).toBe("first, last frame")
    reader.destroy()
    await closeServer(server)
  })

  it.each(modes)("a reader that resets the connection gets the writer destroyed with the error, not a crash: $name", async (mode) => {
    const { server, writer, reader } = await pair()
    const { write } = mode.writer(writer)
    const errors: Array<string> = []
    writer.on("error", (error: NodeJS.ErrnoException) => void errors.push(error.code ?? error.message))
    reader.resetAndDestroy()
    const chunk = crypto.randomBytes(16 * 1024)
    await waitUntil("the writer destroyed", () => {
      inBatch(() => write(chunk))
      return writer.destroyed
    })
    expect(errors.length).toBeLessThanOrEqual(1)
    expect(directHandle(writer)).toBeUndefined()
    // After the close (an owned socket's remembered handle is closed: libuv refuses the write): dropped, no throw.
    inBatch(() => write(chunk))
    write(chunk)
    await new Promise((resolve) => setImmediate(resolve))
    expect(errors.length).toBeLessThanOrEqual(1)
    await closeServer(server)
  })

  it("an owned socket given a merge window forgets its handle: the window's corked writes and later direct ones stay in order", async () => {
    const { server, writer, reader } = await pair()
    const writes = ownWrites(writer)
    const received = collect(reader)
    const expected: Array<Buffer> = []
    const send = (bytes: Buffer, batched: boolean) => {
      expected.push(bytes)
      if (batched) inBatch(() => writeTo(writes, bytes))
      else writeTo(writes, bytes)
    }
    send(crypto.randomBytes(5000), true)
    expect(writes.handle).toBeDefined()
    mergeWrites(writer, 20)
    expect(writes.handle).toBeUndefined()
    for (let i = 0; i < 20; i++) send(crypto.randomBytes(3000 + i), i % 2 === 0)
    mergeWrites(writer, 0)
    await waitUntil("the window's end", () => writer.writableCorked === 0 && writer.writableLength === 0)
    for (let i = 0; i < 20; i++) send(crypto.randomBytes(100 + i), i % 3 !== 0)
    const all = Buffer.concat(expected)
    await waitUntil("every byte", () => received.length() >= all.length)
    expect(received.bytes().equals(all)).toBe(true)
    reader.destroy()
    writer.destroy()
    await closeServer(server)
  })
})
