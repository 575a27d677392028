import { describe, expect, it } from "@effect/vitest"
import { amfObject } from "../../src/protocol/amf0.js"
import { MessageDecodeError } from "../../src/protocol/errors.js"
import {
  decodeCommand,
  decodeData,
  decodeSetPeerBandwidth,
  decodeU32Payload,
  decodeUserControl,
  encodeAbort,
  encodeAcknowledgement,
  encodeCommand,
  encodeSetChunkSize,
  encodeSetPeerBandwidth,
  encodeUserControl,
  encodeWindowAckSize
} from "../../src/protocol/messages.js"
import { hex } from "../support/hex.js"

describe("protocol control messages", () => {
  it("encodes the u32 payloads", () => {
    expect(encodeSetChunkSize(523)).toEqual(hex("00 00 02 0b"))
    expect(encodeAbort(523)).toEqual(hex("00 00 02 0b"))
    expect(encodeAcknowledgement(532)).toEqual(hex("00 00 02 14"))
    expect(encodeWindowAckSize(523)).toEqual(hex("00 00 02 0b"))
    expect(decodeU32Payload(1, hex("00 00 02 0b"))).toBe(523)
  })

  it("clears the reserved top bit of Set Chunk Size", () => {
    expect(encodeSetChunkSize(0xffffffff)).toEqual(hex("7f ff ff ff"))
  })

  it("encodes and decodes Set Peer Bandwidth with each limit type", () => {
    expect(encodeSetPeerBandwidth(523, 0)).toEqual(hex("00 00 02 0b 00"))
    expect(encodeSetPeerBandwidth(523, 1)).toEqual(hex("00 00 02 0b 01"))
    expect(encodeSetPeerBandwidth(523, 2)).toEqual(hex("00 00 02 0b 02"))
    expect(decodeSetPeerBandwidth(hex("00 26 25 a0 02"))).toEqual({ size: 2_500_000, limit: 2 })
  })

  it("refuses short payloads with a typed error", () => {
    expect(() => decodeU32Payload(1, hex("00 00"))).toThrow(MessageDecodeError)
    expect(() => decodeSetPeerBandwidth(hex("00 00 00 01"))).toThrow(MessageDecodeError)
    expect(() => decodeUserControl(hex("00"))).toThrow(MessageDecodeError)
    expect(() => decodeUserControl(hex("00 03 00 00 00 01"))).toThrow(MessageDecodeError)
  })
})

describe("user control events", () => {
  const vectors = [
    [{ event: 0, streamId: 555 }, "00 00 00 00 02 2b"],
    [{ event: 1, streamId: 555 }, "00 01 00 00 02 2b"],
    [{ event: 2, streamId: 555 }, "00 02 00 00 02 2b"],
    [{ event: 3, streamId: 555, bufferLength: 666 }, "00 03 00 00 02 2b 00 00 02 9a"],
    [{ event: 4, streamId: 555 }, "00 04 00 00 02 2b"],
    [{ event: 6, timestamp: 555 }, "00 06 00 00 02 2b"],
    [{ event: 7, timestamp: 555 }, "00 07 00 00 02 2b"],
    [{ event: 31, streamId: 555 }, "00 1f 00 00 02 2b"],
    [{ event: 32, streamId: 555 }, "00 20 00 00 02 2b"]
  ] as const
  for (const [control, bytes] of vectors) {
    it(`round-trips event ${control.event}`, () => {
      expect(encodeUserControl(control)).toEqual(hex(bytes))
      expect(decodeUserControl(hex(bytes))).toEqual(control)
    })
  }

  it("decodes unknown events (SWF verification 26) as unknown instead of failing", () => {
    expect(decodeUserControl(hex("00 1a 01 02"))).toMatchObject({ event: "unknown", eventType: 26 })
  })
})

describe("command and data messages", () => {
  it("encodes onBWDone exactly like the seed's greeting", () => {
    expect(encodeCommand("onBWDone", 0, null, 8192)).toEqual(
      hex("02 00 08 6f 6e 42 57 44 6f 6e 65 00 00 00 00 00 00 00 00 00 05 00 40 c0 00 00 00 00 00 00")
    )
  })

  it("decodes a command with its arguments", () => {
    const cmd = decodeCommand(20, encodeCommand("publish", 5, null, "key", "live"))
    expect(cmd).toEqual({ name: "publish", transactionId: 5, commandObject: null, args: ["key", "live"] })
  })

  it("tolerates a command with only a name (the seed panicked)", () => {
    expect(decodeCommand(20, encodeCommand("x", 0, null).subarray(0, 4))).toEqual({
      name: "x",
      transactionId: 0,
      commandObject: null,
      args: []
    })
  })

  it("strips the AMF3 command format byte (type 17)", () => {
    const body = Buffer.concat([hex("00"), encodeCommand("connect", 1, amfObject({ app: "live" }))])
    expect(decodeCommand(17, body).name).toBe("connect")
  })

  it("refuses a command that does not start with a string", () => {
    expect(() => decodeCommand(20, hex("00 3f f0 00 00 00 00 00 00"))).toThrow(MessageDecodeError)
  })

  it("decodes data messages, also type 15 with its format byte", () => {
    const body = Buffer.concat([hex("00"), encodeCommand("onMetaData", 1, null)])
    expect(decodeData(15, body)[0]).toBe("onMetaData")
  })
})
