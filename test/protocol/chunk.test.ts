import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { ChunkReader, type ChunkReaderLimits, defaultChunkReaderLimits, type RtmpMessage } from "../../src/protocol/chunk-reader.js"
import { ChunkWriter, encodeMessage } from "../../src/protocol/chunk-writer.js"
import { ChunkError } from "../../src/protocol/errors.js"
import { hex, repeat } from "../support/hex.js"

const readAll = (chunks: ReadonlyArray<Uint8Array>, chunkSize = 128, limits?: ChunkReaderLimits) => {
  const reader = new ChunkReader(limits)
  reader.chunkSize = chunkSize
  const messages: Array<RtmpMessage & { payloadHex: string }> = []
  for (const chunk of chunks) {
    reader.push(chunk, (m) => {
      messages.push({ ...m, payloadHex: Buffer.from(m.payload).toString("hex") })
    })
  }
  return messages
}

describe("chunk reader vectors", () => {
  it("reads a type-0 chunk (csid 50, ts 25, type 3, msid 5)", () => {
    const [m] = readAll([hex("32 00 00 19 00 00 03 03 05 00 00 00 01 02 03")])
    expect(m).toMatchObject({ chunkStreamId: 50, timestamp: 25, typeId: 3, streamId: 5, payloadHex: "010203" })
  })

  it("applies fmt 1, 2 and 3 deltas: 25, 35, 46, 57", () => {
    const ms = readAll([
      hex("32 00 00 19 00 00 03 03 05 00 00 00 01 02 03"),
      hex("72 00 00 0a 00 00 03 04 01 02 03"),
      hex("b2 00 00 0b 01 02 03"),
      hex("f2 01 02 03")
    ])
    expect(ms.map((m) => m.timestamp)).toEqual([25, 35, 46, 57])
    expect(ms.map((m) => m.typeId)).toEqual([3, 4, 4, 4])
    expect(ms.every((m) => m.streamId === 5)).toBe(true)
  })

  it("applies extended deltas on fmt 2 and repeats them on fmt 3", () => {
    const ms = readAll([
      hex("32 00 00 0a 00 00 03 03 05 00 00 00 01 02 03"),
      hex("72 00 00 0a 00 00 03 04 01 02 03"),
      hex("b2 ff ff ff 01 00 00 00 01 02 03"),
      hex("f2 01 00 00 00 01 02 03")
    ])
    expect(ms.at(-1)?.timestamp).toBe(33554452)
  })

  it("handles the OBS type-1 then type-3 continuation split (ts 33, not 66)", () => {
    const ms = readAll([hex("04 00 00 00 00 00 01 09 01 00 00 00 01"), hex("44 00 00 21 00 00 05 09 01 02 03 04 c4 05")], 4)
    expect(ms.map((m) => [m.timestamp, m.payloadHex])).toEqual([[0, "01"], [33, "0102030405"]])
  })

  it("reads the extended timestamp repeated on a type-3 continuation", () => {
    const ms = readAll([hex("06 ff ff ff 00 00 07 09 01 00 00 00 01 ff ff ff 01 02 03 04"), hex("c6 01 ff ff ff 05 06 07")], 4)
    expect(ms).toHaveLength(1)
    expect(ms[0]).toMatchObject({ timestamp: 0x01ffffff, payloadHex: "01020304050607", typeId: 9 })
  })

  it("reads 2-byte (csid 100) and 3-byte (csid 500, little-endian) chunk stream ids", () => {
    const ms = readAll([hex("00 24 00 00 01 00 00 01 14 00 00 00 00 aa"), hex("01 b4 01 00 00 02 00 00 01 14 00 00 00 00 bb")])
    expect(ms.map((m) => m.chunkStreamId)).toEqual([100, 500])
  })

  it("assembles messages interleaved across chunk streams", () => {
    // csid 4: 6-byte message in chunks of 4; csid 5: 2-byte message between its two chunks.
    const ms = readAll([hex("04 00 00 01 00 00 06 09 01 00 00 00 a1 a2 a3 a4 05 00 00 02 00 00 02 08 01 00 00 00 b1 b2 c4 a5 a6")], 4)
    expect(ms.map((m) => [m.chunkStreamId, m.payloadHex])).toEqual([[5, "b1b2"], [4, "a1a2a3a4a5a6"]])
  })

  it("applies Set Chunk Size to the very next chunk", () => {
    const setChunkSize = hex("02 00 00 00 00 00 04 01 00 00 00 00 00 00 00 08")
    const eightByteMessage = hex("04 00 00 00 00 00 08 09 01 00 00 00 01 02 03 04 05 06 07 08")
    const ms = readAll([Buffer.concat([setChunkSize, eightByteMessage])], 4)
    expect(ms.map((m) => m.payloadHex)).toEqual(["00000008", "0102030405060708"])
  })

  it("drops a partial message on Abort", () => {
    const start = hex("04 00 00 00 00 00 08 09 01 00 00 00 01 02 03 04")
    const abort = hex("02 00 00 00 00 00 04 02 00 00 00 00 00 00 00 04")
    const fresh = hex("04 00 00 00 00 00 02 09 01 00 00 00 aa bb")
    const ms = readAll([Buffer.concat([start, abort, fresh])], 4)
    expect(ms.map((m) => m.payloadHex)).toEqual(["00000004", "aabb"])
  })

  it("delivers zero-length messages", () => {
    const ms = readAll([hex("03 00 00 05 00 00 00 14 00 00 00 00")])
    expect(ms).toMatchObject([{ typeId: 20, timestamp: 5, payloadHex: "" }])
  })
})

describe("chunk reader limits", () => {
  it("refuses a non-type-0 first header", () => {
    expect(() => readAll([hex("44 00 00 21 00 00 05 09")])).toThrow(ChunkError)
  })

  it("refuses chunk size 0 and 2^31", () => {
    expect(() => readAll([hex("02 00 00 00 00 00 04 01 00 00 00 00 00 00 00 00")])).toThrow(ChunkError)
    expect(() => readAll([hex("02 00 00 00 00 00 04 01 00 00 00 00 80 00 00 00")])).toThrow(ChunkError)
  })

  it("accepts chunk size 2^31-1 and still bounds a huge declared message", () => {
    const big = hex("02 00 00 00 00 00 04 01 00 00 00 00 7f ff ff ff")
    const huge = hex("04 00 00 00 ff ff ff 09 01 00 00 00")
    expect(() => readAll([Buffer.concat([big, huge])])).toThrow(/exceeds the limit/)
  })

  it("bounds the number of chunk streams", () => {
    const many = Buffer.concat(
      Array.from({ length: 100 }, (_, i) => hex(`00 ${(i + 10).toString(16).padStart(2, "0")} 00 00 00 00 00 01 09 01 00 00 00 00`))
    )
    expect(() => readAll([many])).toThrow(/chunk streams/)
  })

  it("bounds bytes held for unfinished messages across chunk streams", () => {
    const limits = { ...defaultChunkReaderLimits, maxMessageSize: 1000, maxBufferedBytes: 1500 }
    const a = hex("04 00 00 00 00 03 e8 09 01 00 00 00 00")
    const b = hex("05 00 00 00 00 03 e8 09 01 00 00 00 00")
    expect(() => readAll([Buffer.concat([a, b])], 1, limits)).toThrow(/unfinished/)
  })
})

describe("chunk writer vectors (type 50 = 0x32, msid 12)", () => {
  it("writes a first message as type 0", () => {
    const w = new ChunkWriter()
    expect(w.write(6, 0x32, 12, 72, hex("01 02 03 04")).toString("hex")).toBe("060000480000043" + "20c00000001020304")
  })

  it("writes an extended type-0 timestamp", () => {
    const w = new ChunkWriter()
    expect(w.write(6, 0x32, 12, 16777216, hex("01 02 03 04"))).toEqual(hex("06 ff ff ff 00 00 04 32 0c 00 00 00 01 00 00 00 01 02 03 04"))
  })

  it("uses type 1 when the type or length changes", () => {
    const w = new ChunkWriter()
    w.write(6, 0x32, 12, 72, hex("01 02 03 04"))
    expect(w.write(6, 0x33, 12, 82, hex("01 02 03"))).toEqual(hex("46 00 00 0a 00 00 03 33 01 02 03"))
  })

  it("uses type 2 for a new delta and type 3 when the delta repeats after a delta header", () => {
    const w = new ChunkWriter()
    w.write(6, 0x32, 12, 72, hex("01 02 03 04"))
    expect(w.write(6, 0x32, 12, 82, hex("05 06 07 08"))).toEqual(hex("86 00 00 0a 05 06 07 08"))
    expect(w.write(6, 0x32, 12, 92, hex("09 0a 0b 0c"))).toEqual(hex("c6 09 0a 0b 0c"))
  })

  it("writes an extended delta on type 2", () => {
    const w = new ChunkWriter()
    w.write(6, 0x32, 12, 10, hex("01 02 03 04"))
    expect(w.write(6, 0x32, 12, 16777226, hex("05 06 07 08"))).toEqual(hex("86 ff ff ff 01 00 00 00 05 06 07 08"))
  })

  it("splits at the chunk size with type-3 continuations", () => {
    const payload = Buffer.concat([repeat(0x0b, 75), repeat(0x16, 25)])
    const w = new ChunkWriter(75)
    expect(w.write(6, 0x32, 12, 72, payload)).toEqual(
      Buffer.concat([hex("06 00 00 48 00 00 64 32 0c 00 00 00"), repeat(0x0b, 75), hex("c6"), repeat(0x16, 25)])
    )
    expect(w.write(6, 0x32, 12, 73, payload)).toEqual(Buffer.concat([hex("86 00 00 01"), repeat(0x0b, 75), hex("c6"), repeat(0x16, 25)]))
  })

  it("repeats the extended timestamp on type-3 continuations", () => {
    const payload = Buffer.concat([repeat(0x0b, 75), repeat(0x16, 25)])
    expect(encodeMessage(6, 0x32, 12, 16777216, payload, 75)).toEqual(
      Buffer.concat([hex("06 ff ff ff 00 00 64 32 0c 00 00 00 01 00 00 00"), repeat(0x0b, 75), hex("c6 01 00 00 00"), repeat(0x16, 25)])
    )
  })

  it("writes 2- and 3-byte chunk stream ids", () => {
    expect(encodeMessage(100, 20, 0, 0, hex("aa"), 128).subarray(0, 2)).toEqual(hex("00 24"))
    expect(encodeMessage(500, 20, 0, 0, hex("aa"), 128).subarray(0, 3)).toEqual(hex("01 b4 01"))
  })

  it("falls back to type 0 when time goes backwards", () => {
    const w = new ChunkWriter()
    w.write(6, 0x32, 12, 100, hex("01"))
    expect(w.write(6, 0x32, 12, 50, hex("02"))[0]).toBe(0x06)
  })
})

interface Spec {
  readonly csid: number
  readonly typeId: number
  readonly streamId: number
  readonly timestamp: number
  readonly payload: Uint8Array
}

const messageSpec: fc.Arbitrary<Spec> = fc.record({
  csid: fc.oneof(fc.integer({ min: 3, max: 63 }), fc.integer({ min: 64, max: 319 }), fc.integer({ min: 320, max: 65599 })),
  typeId: fc.constantFrom(8, 9, 18, 20),
  streamId: fc.integer({ min: 0, max: 3 }),
  timestamp: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0xfffff0, max: 0x1000100 }), fc.integer({ min: 0, max: 0xffffffff })),
  payload: fc.uint8Array({ maxLength: 700 })
})

/** Splits `bytes` at the given cut points. */
const split = (bytes: Buffer, cuts: ReadonlyArray<number>): Array<Buffer> => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const parts: Array<Buffer> = []
  let last = 0
  for (const p of points) {
    parts.push(bytes.subarray(last, p))
    last = p
  }
  parts.push(bytes.subarray(last))
  return parts
}

describe("chunk round trips", () => {
  it("writer → reader gives back every message, for any split of the byte stream", () => {
    fc.assert(
      fc.property(
        fc.array(messageSpec, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (specs, chunkSize, cuts) => {
          // Timestamps per chunk stream must not go backwards for compressed headers to apply.
          const writer = new ChunkWriter(chunkSize)
          const bytes = Buffer.concat(specs.map((s) => writer.write(s.csid, s.typeId, s.streamId, s.timestamp, s.payload)))
          const ms = readAll(split(bytes, cuts), chunkSize)
          expect(ms.map((m) => [m.chunkStreamId, m.typeId, m.streamId, m.timestamp, m.payloadHex])).toEqual(
            specs.map((s) => [s.csid, s.typeId, s.streamId, s.timestamp, Buffer.from(s.payload).toString("hex")])
          )
        }
      ),
      { numRuns: 400 }
    )
  })

  it("shared fmt-0 encoding reads back identically", () => {
    fc.assert(
      fc.property(fc.array(messageSpec, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 4096 }), (specs, chunkSize) => {
        const bytes = Buffer.concat(specs.map((s) => encodeMessage(s.csid, s.typeId, s.streamId, s.timestamp, s.payload, chunkSize)))
        expect(readAll([bytes], chunkSize).map((m) => [m.timestamp, m.payloadHex])).toEqual(
          specs.map((s) => [s.timestamp, Buffer.from(s.payload).toString("hex")])
        )
      }),
      { numRuns: 300 }
    )
  })

  it("random bytes give messages or a ChunkError, never another exception", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          readAll([bytes], 128)
        } catch (e) {
          expect(e).toBeInstanceOf(ChunkError)
        }
      }),
      { numRuns: 3000 }
    )
  })
})
