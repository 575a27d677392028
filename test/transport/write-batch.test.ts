import { describe, expect, it } from "@effect/vitest"
import type * as net from "node:net"
import { batchedWrite, inBatch } from "../../src/transport/write-batch.js"

/** Records cork/uncork/write calls in order, standing in for a net.Socket. */
const fakeSocket = () => {
  const calls: Array<string> = []
  let corks = 0
  const socket = {
    cork: () => {
      corks++
      calls.push("cork")
    },
    uncork: () => {
      corks--
      calls.push("uncork")
    },
    write: (b: Uint8Array) => {
      calls.push(`write ${b[0]}${corks > 0 ? " (corked)" : ""}`)
      return true
    }
  }
  return { socket: socket as unknown as net.Socket, calls }
}

describe("write batching", () => {
  it("corks each touched socket once per batch and uncorks at the end, keeping order", () => {
    const a = fakeSocket()
    const b = fakeSocket()
    inBatch(() => {
      batchedWrite(a.socket, Buffer.of(1))
      batchedWrite(b.socket, Buffer.of(2))
      batchedWrite(a.socket, Buffer.of(3))
      inBatch(() => batchedWrite(a.socket, Buffer.of(4))) // nested: flushed by the outer batch
    })
    expect(a.calls).toEqual(["cork", "write 1 (corked)", "write 3 (corked)", "write 4 (corked)", "uncork"])
    expect(b.calls).toEqual(["cork", "write 2 (corked)", "uncork"])
  })

  it("writes at once outside a batch, and uncorks even when the batch throws", () => {
    const a = fakeSocket()
    batchedWrite(a.socket, Buffer.of(9))
    expect(a.calls).toEqual(["write 9"])
    expect(() =>
      inBatch(() => {
        batchedWrite(a.socket, Buffer.of(1))
        throw new Error("boom")
      })
    ).toThrow("boom")
    expect(a.calls.slice(1)).toEqual(["cork", "write 1 (corked)", "uncork"])
  })
})
