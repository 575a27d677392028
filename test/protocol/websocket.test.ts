/**
 * WebSocket binary frame headers (RFC 6455 §5.2) against the RFC's own examples (§5.7) and, for any length,
 * against the `ws` library's frame reader as an independent parser.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { wsBinaryHeaderLength, wsBinaryMessage } from "../../src/protocol/websocket.js"
import { readWsMessages } from "../support/ws-frames.js"

describe("WebSocket binary frames", () => {
  it("RFC 6455 §5.7: 256 bytes and 64 KiB in a single unmasked frame", () => {
    const small = wsBinaryMessage(Buffer.alloc(256, 7))
    expect(small.subarray(0, 4).toString("hex")).toBe("827e0100")
    expect(small.length).toBe(4 + 256)
    const large = wsBinaryMessage(Buffer.alloc(65536, 9))
    expect(large.subarray(0, 10).toString("hex")).toBe("827f0000000000010000")
    expect(large.length).toBe(10 + 65536)
  })

  it("the length's three forms switch at 126 and 65,536 bytes", () => {
    expect(wsBinaryMessage(Buffer.from("Hello")).toString("hex")).toBe("820548656c6c6f") // §5.7's "Hello", as binary
    expect([0, 125, 126, 65535, 65536].map(wsBinaryHeaderLength)).toEqual([2, 2, 4, 4, 10])
    expect(wsBinaryMessage(Buffer.alloc(125)).subarray(0, 2).toString("hex")).toBe("827d")
    expect(wsBinaryMessage(Buffer.alloc(126)).subarray(0, 4).toString("hex")).toBe("827e007e")
    expect(wsBinaryMessage(Buffer.alloc(65535)).subarray(0, 4).toString("hex")).toBe("827effff")
  })

  it("any payload, and messages back to back, read back by ws's frame reader", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 65530, maxLength: 70000 })), { minLength: 1, maxLength: 4 }), (payloads) => {
        const messages = readWsMessages(Buffer.concat(payloads.map((p) => wsBinaryMessage(p))))
        expect(messages.map((m) => m.binary)).toEqual(payloads.map(() => true))
        expect(messages.map((m) => m.data.toString("hex"))).toEqual(payloads.map((p) => Buffer.from(p).toString("hex")))
      }),
      { numRuns: 60 }
    )
  })
})
