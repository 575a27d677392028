import { describe, expect, it } from "@effect/vitest"
import * as crypto from "node:crypto"
import * as net from "node:net"
import { directHandle, directWritesAvailable } from "../../src/transport/direct-writes.js"
import { backlogOf, batchedWrite, endSocket, inBatch } from "../../src/transport/write-batch.js"
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

describe("direct writes to a TCP handle (write batches)", () => {
  it("are available on this Node: a Node whose stream binding changed would silently fall back to the Writable", () => {
    expect(directWritesAvailable).toBe(true)
  })

  it("deliver every byte in order, batches mixed with writes outside a batch", async () => {
    const { server, writer, reader } = await pair()
    const received = collect(reader)
    expect(directHandle(writer)).toBeDefined()
    const expected: Array<Buffer> = []
    for (let i = 0; i < 300; i++) {
      const chunks = Array.from({ length: 1 + (i % 4) }, () => crypto.randomBytes(1 + ((i * 7919) % 9000)))
      expected.push(...chunks)
      if (i % 5 === 4) chunks.forEach((chunk) => batchedWrite(writer, chunk)) // outside a batch: the Writable
      else inBatch(() => chunks.forEach((chunk) => batchedWrite(writer, chunk)))
    }
    const all = Buffer.concat(expected)
    await waitUntil("every byte", () => received.length() >= all.length)
    expect(received.bytes().equals(all)).toBe(true)
    reader.destroy()
    writer.destroy()
    await closeServer(server)
  })

  it("count what a stalled reader has not taken in the backlog, and deliver it all once it reads again", async () => {
    const { server, writer, reader } = await pair()
    reader.pause()
    const chunk = crypto.randomBytes(64 * 1024)
    let written = 0
    // Far more than the kernel's socket buffers hold: the rest waits in libuv's queue.
    for (let i = 0; i < 128; i++) {
      inBatch(() => {
        batchedWrite(writer, chunk)
        // Inside the batch, gathered bytes already count, as corked ones did.
        expect(backlogOf(writer, writer.writableLength)).toBeGreaterThanOrEqual(chunk.length)
      })
      written += chunk.length
    }
    expect(backlogOf(writer, writer.writableLength)).toBeGreaterThan(1024 * 1024)
    const received = collect(reader)
    reader.resume()
    await waitUntil("every byte", () => received.length() >= written)
    await waitUntil("an empty backlog", () => backlogOf(writer, writer.writableLength) === 0)
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

  it("endSocket sends what the batch gathered before the end of the stream", async () => {
    const { server, writer, reader } = await pair()
    const received = collect(reader)
    inBatch(() => {
      batchedWrite(writer, Buffer.from("last frame"))
      endSocket(writer)
    })
    await waitUntil("the end of the stream", () => received.ended())
    expect(received.bytes().toString()).toBe("last frame")
    reader.destroy()
    await closeServer(server)
  })

  it("a reader that resets the connection gets the writer destroyed with the error, not a crash", async () => {
    const { server, writer, reader } = await pair()
    const errors: Array<string> = []
    writer.on("error", (error: NodeJS.ErrnoException) => void errors.push(error.code ?? error.message))
    reader.resetAndDestroy()
    const chunk = crypto.randomBytes(16 * 1024)
    await waitUntil("the writer destroyed", () => {
      inBatch(() => batchedWrite(writer, chunk))
      return writer.destroyed
    })
    expect(errors.length).toBeLessThanOrEqual(1)
    expect(directHandle(writer)).toBeUndefined()
    inBatch(() => batchedWrite(writer, chunk)) // after the close: dropped, no throw
    await closeServer(server)
  })
})
