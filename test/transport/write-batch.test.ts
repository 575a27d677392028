import { afterEach, beforeEach, describe, expect, it, vi } from "@effect/vitest"
import type * as net from "node:net"
import { backlogOf, batchedWrite, inBatch, inBatchWith, mergeWrites } from "../../src/transport/write-batch.js"

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

  it("inBatchWith hands its input to the batch (no closure per read) and flushes like inBatch; a batch that writes nothing leaves the next one clean", () => {
    const a = fakeSocket()
    inBatchWith((n: number) => {
      batchedWrite(a.socket, Buffer.of(n))
      batchedWrite(a.socket, Buffer.of(n + 1))
    }, 5)
    inBatchWith(() => {}, undefined)
    inBatchWith((n: number) => batchedWrite(a.socket, Buffer.of(n)), 7)
    expect(a.calls).toEqual(["cork", "write 5 (corked)", "write 6 (corked)", "uncork", "cork", "write 7 (corked)", "uncork"])
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

describe("merged writes (--merge-writes)", () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it("keeps a socket corked across batches until its window ends, then sends everything in order at once", () => {
    const viewer = fakeSocket()
    const other = fakeSocket()
    mergeWrites(viewer.socket, 40)
    inBatch(() => {
      batchedWrite(viewer.socket, Buffer.of(1))
      batchedWrite(other.socket, Buffer.of(2))
    })
    expect(other.calls).toEqual(["cork", "write 2 (corked)", "uncork"]) // no window: flushed at the batch's end
    vi.advanceTimersByTime(20)
    inBatch(() => batchedWrite(viewer.socket, Buffer.of(3)))
    batchedWrite(viewer.socket, Buffer.of(4)) // outside a batch: joins the open window
    vi.advanceTimersByTime(19)
    expect(viewer.calls).toEqual(["cork", "write 1 (corked)", "write 3 (corked)", "write 4 (corked)"])
    vi.advanceTimersByTime(1)
    expect(viewer.calls.slice(4)).toEqual(["uncork"])
    // The next batch opens a new window.
    inBatch(() => batchedWrite(viewer.socket, Buffer.of(5)))
    expect(viewer.calls.slice(5)).toEqual(["cork", "write 5 (corked)"])
    vi.advanceTimersByTime(40)
    expect(viewer.calls.slice(7)).toEqual(["uncork"])
  })

  it("serves sockets of different windows each within its own window, and 0 turns merging off", () => {
    const short = fakeSocket()
    const long = fakeSocket()
    mergeWrites(long.socket, 100)
    inBatch(() => batchedWrite(long.socket, Buffer.of(1)))
    mergeWrites(short.socket, 10)
    inBatch(() => batchedWrite(short.socket, Buffer.of(2)))
    vi.advanceTimersByTime(10)
    expect(short.calls).toEqual(["cork", "write 2 (corked)", "uncork"])
    expect(long.calls).toEqual(["cork", "write 1 (corked)"])
    vi.advanceTimersByTime(90)
    expect(long.calls).toEqual(["cork", "write 1 (corked)", "uncork"])
    mergeWrites(short.socket, 0)
    inBatch(() => batchedWrite(short.socket, Buffer.of(3)))
    expect(short.calls.slice(3)).toEqual(["cork", "write 3 (corked)", "uncork"])
  })

  it("does not count what a window holds as a slow reader's backlog", () => {
    const viewer = fakeSocket()
    mergeWrites(viewer.socket, 50)
    inBatch(() => batchedWrite(viewer.socket, Buffer.alloc(300)))
    batchedWrite(viewer.socket, Buffer.alloc(200)) // joins the open window
    // The socket's writableLength would be 500 plus whatever a slow reader left queued (here 70).
    expect(backlogOf(viewer.socket, 570)).toBe(70)
    vi.advanceTimersByTime(50)
    expect(backlogOf(viewer.socket, 70)).toBe(70)
    const plain = fakeSocket()
    inBatch(() => batchedWrite(plain.socket, Buffer.alloc(300)))
    expect(backlogOf(plain.socket, 300)).toBe(300)
  })
})
