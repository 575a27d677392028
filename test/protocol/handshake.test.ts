import { describe, expect, it } from "@effect/vitest"
import { randomBytes } from "node:crypto"
import { HandshakeError } from "../../src/protocol/errors.js"
import {
  ClientHandshake,
  digestOffset,
  findDigest,
  FMS_KEY,
  HANDSHAKE_SIZE,
  hmacSha256,
  makeSignedPacket,
  PLAYER_KEY,
  ServerHandshake,
  verifyDigestResponse
} from "../../src/protocol/handshake.js"
import { hex } from "../support/hex.js"

const playerKey30 = PLAYER_KEY.subarray(0, 30)
const fmsKey36 = FMS_KEY.subarray(0, 36)

describe("handshake primitives", () => {
  it("HMAC-SHA256 matches RFC 4231 test case 1", () => {
    expect(hmacSha256(Buffer.alloc(20, 0x0b), Buffer.from("Hi There")).toString("hex")).toBe(
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    )
  })

  it("uses the published keys", () => {
    expect(FMS_KEY.length).toBe(68)
    expect(PLAYER_KEY.length).toBe(62)
    expect(fmsKey36.toString("ascii")).toBe("Genuine Adobe Flash Media Server 001")
    expect(PLAYER_KEY.subarray(30)).toEqual(hex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae"))
  })

  it("computes digest offsets for both schemes (all-zero packet: 12 and 776)", () => {
    const zero = Buffer.alloc(HANDSHAKE_SIZE)
    expect(digestOffset(zero, 0)).toBe(12)
    expect(digestOffset(zero, 1)).toBe(776)
    const p = Buffer.alloc(HANDSHAKE_SIZE)
    p.set([200, 200, 200, 200], 8)
    expect(digestOffset(p, 0)).toBe((800 % 728) + 12)
  })

  it("finds a digest at either scheme and none in random bytes", () => {
    for (const scheme of [0, 1] as const) {
      expect(findDigest(makeSignedPacket(Buffer.from([9, 0, 124, 2]), playerKey30, scheme), playerKey30)?.scheme).toBe(scheme)
    }
    expect(findDigest(randomBytes(HANDSHAKE_SIZE), playerKey30)).toBeUndefined()
  })
})

const runServer = (input: Buffer) => {
  const server = new ServerHandshake()
  const step = server.receive(input)
  return { server, step }
}

describe("server handshake", () => {
  it("answers a digest C1 with an FMS-signed S1 and an S2 keyed on the client digest (either scheme)", () => {
    for (const scheme of [0, 1] as const) {
      const c1 = makeSignedPacket(Buffer.from([9, 0, 124, 2]), playerKey30, scheme)
      const { server, step } = runServer(Buffer.concat([Buffer.of(3), c1]))
      const response = step.send as Buffer
      expect(response.length).toBe(1 + 2 * HANDSHAKE_SIZE)
      expect(response[0]).toBe(3)
      const s1 = response.subarray(1, 1 + HANDSHAKE_SIZE)
      const s2 = response.subarray(1 + HANDSHAKE_SIZE)
      expect(findDigest(s1, fmsKey36)?.scheme).toBe(scheme)
      const clientDigest = findDigest(c1, playerKey30)?.digest as Buffer
      expect(verifyDigestResponse(s2, clientDigest, FMS_KEY)).toBe(true)
      expect(server.usedDigest).toBe(true)
    }
  })

  it("echoes C1 as S2 for the simple handshake", () => {
    const c1 = Buffer.concat([Buffer.alloc(8), randomBytes(HANDSHAKE_SIZE - 8)])
    const { server, step } = runServer(Buffer.concat([Buffer.of(3), c1]))
    expect((step.send as Buffer).subarray(1 + HANDSHAKE_SIZE)).toEqual(c1)
    expect(server.usedDigest).toBe(false)
  })

  it("completes after C2 and returns the bytes that followed it", () => {
    const server = new ServerHandshake()
    const c0c1 = Buffer.concat([Buffer.of(3), randomBytes(HANDSHAKE_SIZE)])
    // Byte by byte for the first part: any split works.
    for (const byte of c0c1.subarray(0, 100)) expect(server.receive(Buffer.of(byte))._tag).toBe("Continue")
    expect(server.receive(c0c1.subarray(100)).send?.length).toBe(1 + 2 * HANDSHAKE_SIZE)
    const done = server.receive(Buffer.concat([randomBytes(HANDSHAKE_SIZE), hex("02 00 00")]))
    expect(done._tag).toBe("Done")
    expect(done._tag === "Done" && done.rest).toEqual(hex("02 00 00"))
  })

  it("refuses RTMPE and other versions with a clear error", () => {
    expect(() => new ServerHandshake().receive(Buffer.of(6))).toThrow(/RTMPE/)
    expect(() => new ServerHandshake().receive(Buffer.of(8))).toThrow(HandshakeError)
    expect(() => new ServerHandshake().receive(Buffer.from("GET / HTTP/1.1"))).toThrow(/version byte 71/)
  })
})

describe("client handshake", () => {
  it("completes against our server with the digest scheme on both sides", () => {
    const client = new ClientHandshake()
    const server = new ServerHandshake()
    const s = server.receive(client.start())
    const c = client.receive(s.send as Buffer)
    expect(client.serverUsedDigest).toBe(true)
    expect(c._tag).toBe("Done")
    const done = server.receive(Buffer.concat([c.send as Buffer, hex("aa")]))
    expect(done._tag === "Done" && done.rest).toEqual(hex("aa"))
  })

  it("echoes S1 to a server that answers the simple way (as YouTube does)", () => {
    const client = new ClientHandshake()
    client.start()
    const s1 = Buffer.concat([Buffer.from([0, 0, 0, 0, 1, 2, 3, 4]), randomBytes(HANDSHAKE_SIZE - 8)])
    const step = client.receive(Buffer.concat([Buffer.of(3), s1]))
    expect(step.send).toEqual(s1)
    expect(client.receive(randomBytes(HANDSHAKE_SIZE))._tag).toBe("Done")
  })
})
