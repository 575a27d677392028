/**
 * RTMP handshake, both sides, sans-IO. Supports the simple handshake of the RTMP 1.0 spec (S2 echoes C1)
 * and the Flash Player 9 "digest" handshake that Flash, FMLE, OBS and ffmpeg send: when C1 carries a valid
 * HMAC-SHA256 digest keyed with the Flash Player key (at either offset scheme), S1 carries a Flash Media
 * Server digest and S2 is signed with a key derived from the client's digest.
 */
import { createHmac, randomFillSync } from "node:crypto"
import { HandshakeError } from "./errors.js"

export const RTMP_VERSION = 3
export const HANDSHAKE_SIZE = 1536
const DIGEST_SIZE = 32

const RANDOM_CRUD = Buffer.from("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae", "hex")
const FMS_KEY_TEXT = Buffer.from("Genuine Adobe Flash Media Server 001", "ascii")
const PLAYER_KEY_TEXT = Buffer.from("Genuine Adobe Flash Player 001", "ascii")
/** 68 bytes: signs S2 / verifies the server side. The first 36 sign S1. */
export const FMS_KEY = Buffer.concat([FMS_KEY_TEXT, RANDOM_CRUD])
/** 62 bytes: signs C2. The first 30 sign C1. */
export const PLAYER_KEY = Buffer.concat([PLAYER_KEY_TEXT, RANDOM_CRUD])

/** Bytes 4..7 of our S1: a server version, which tells clients to expect the digest scheme. */
const SERVER_VERSION = Buffer.from([0x0d, 0x0e, 0x0a, 0x0d])
/** Bytes 4..7 of our C1: a Flash Player version (9.0.124.2), which asks servers for the digest scheme. */
const CLIENT_VERSION = Buffer.from([0x09, 0x00, 0x7c, 0x02])

export const hmacSha256 = (key: Uint8Array, ...data: ReadonlyArray<Uint8Array>): Buffer => {
  const hmac = createHmac("sha256", key)
  for (const d of data) hmac.update(d)
  return hmac.digest()
}

/** The two places a digest may live: scheme 0 ("client" layout) and scheme 1 ("server" layout). */
export type DigestScheme = 0 | 1

export const digestOffset = (packet: Uint8Array, scheme: DigestScheme): number => {
  const base = scheme === 0 ? 8 : 772
  const sum = (packet[base] as number) + (packet[base + 1] as number) + (packet[base + 2] as number) + (packet[base + 3] as number)
  return (sum % 728) + base + 4
}

const computeDigest = (packet: Uint8Array, offset: number, key: Uint8Array): Buffer =>
  hmacSha256(key, packet.subarray(0, offset), packet.subarray(offset + DIGEST_SIZE))

/** Finds a valid digest in a peer's C1/S1; `undefined` means the peer uses the simple handshake. */
export const findDigest = (
  packet: Uint8Array,
  key: Uint8Array
): { readonly scheme: DigestScheme; readonly digest: Buffer } | undefined => {
  for (const scheme of [0, 1] as const) {
    const offset = digestOffset(packet, scheme)
    const expected = computeDigest(packet, offset, key)
    const actual = packet.subarray(offset, offset + DIGEST_SIZE)
    if (expected.equals(actual)) return { scheme, digest: Buffer.from(actual) }
  }
  return undefined
}

/** Builds a C1 or S1 whose digest (at `scheme`) is keyed with `key`. */
export const makeSignedPacket = (version: Uint8Array, key: Uint8Array, scheme: DigestScheme): Buffer => {
  const packet = Buffer.alloc(HANDSHAKE_SIZE)
  randomFillSync(packet, 8)
  packet.writeUInt32BE(0, 0)
  packet.set(version, 4)
  const offset = digestOffset(packet, scheme)
  computeDigest(packet, offset, key).copy(packet, offset)
  return packet
}

/** S2 (or C2) answering a digest: random bytes whose last 32 are signed with a key derived from it. */
export const makeDigestResponse = (peerDigest: Uint8Array, ownFullKey: Uint8Array): Buffer => {
  const packet = Buffer.alloc(HANDSHAKE_SIZE)
  randomFillSync(packet)
  const key = hmacSha256(ownFullKey, peerDigest)
  hmacSha256(key, packet.subarray(0, HANDSHAKE_SIZE - DIGEST_SIZE)).copy(packet, HANDSHAKE_SIZE - DIGEST_SIZE)
  return packet
}

/** True when `response` (an S2/C2) is signed for `ownDigest` with the peer's full key. */
export const verifyDigestResponse = (response: Uint8Array, ownDigest: Uint8Array, peerFullKey: Uint8Array): boolean => {
  const key = hmacSha256(peerFullKey, ownDigest)
  const expected = hmacSha256(key, response.subarray(0, HANDSHAKE_SIZE - DIGEST_SIZE))
  return expected.equals(response.subarray(HANDSHAKE_SIZE - DIGEST_SIZE, HANDSHAKE_SIZE))
}

const checkVersion = (version: number): void => {
  if (version === RTMP_VERSION) return
  if (version === 6 || version === 8 || version === 9) {
    throw new HandshakeError({
      reason: "EncryptionUnsupported",
      message: `RTMPE (encrypted RTMP, version byte ${version}) is not supported; use plain rtmp://`
    })
  }
  throw new HandshakeError({ reason: "BadVersion", message: `RTMP version byte ${version} is not 3` })
}

/** What the server answers to C0+C1: S0+S1+S2 in one buffer, and whether the digest scheme was used. */
export const serverResponse = (c1: Uint8Array): { readonly response: Buffer; readonly digest: boolean } => {
  const found = findDigest(c1, PLAYER_KEY.subarray(0, PLAYER_KEY_TEXT.length))
  if (found === undefined) {
    const s1 = Buffer.alloc(HANDSHAKE_SIZE)
    randomFillSync(s1, 8)
    return { response: Buffer.concat([Buffer.of(RTMP_VERSION), s1, c1]), digest: false }
  }
  const s1 = makeSignedPacket(SERVER_VERSION, FMS_KEY.subarray(0, FMS_KEY_TEXT.length), found.scheme)
  const s2 = makeDigestResponse(found.digest, FMS_KEY)
  return { response: Buffer.concat([Buffer.of(RTMP_VERSION), s1, s2]), digest: true }
}

export type HandshakeStep =
  | { readonly _tag: "Continue"; readonly send: Buffer | undefined }
  | { readonly _tag: "Done"; readonly send: Buffer | undefined; readonly rest: Buffer }

/** Accumulates bytes until at least `n` are present, without copying when one read holds them all. */
class Accumulator {
  private parts: Array<Buffer> = []
  length = 0
  push(bytes: Uint8Array): void {
    this.parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    this.length += bytes.length
  }
  take(n: number): Buffer {
    const all = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts)
    const head = all.subarray(0, n)
    const rest = all.subarray(n)
    this.parts = rest.length > 0 ? [rest] : []
    this.length = rest.length
    return head
  }
}

/** Server side: C0+C1 → S0+S1+S2, then C2 → done (with whatever chunk bytes followed C2). */
export class ServerHandshake {
  private readonly input = new Accumulator()
  private stage: "C0" | "C1" | "C2" = "C0"
  /** Set once C1 arrived: whether the client used the digest scheme. */
  usedDigest = false

  receive(bytes: Uint8Array): HandshakeStep {
    this.input.push(bytes)
    let send: Buffer | undefined
    if (this.stage === "C0") {
      if (this.input.length < 1) return { _tag: "Continue", send }
      checkVersion(this.input.take(1)[0] as number) // fail fast on RTMPE or garbage
      this.stage = "C1"
    }
    if (this.stage === "C1") {
      if (this.input.length < HANDSHAKE_SIZE) return { _tag: "Continue", send }
      const { response, digest } = serverResponse(this.input.take(HANDSHAKE_SIZE))
      this.usedDigest = digest
      this.stage = "C2"
      send = response
    }
    if (this.input.length < HANDSHAKE_SIZE) return { _tag: "Continue", send }
    this.input.take(HANDSHAKE_SIZE) // C2: not verified (Flash players sign it inconsistently)
    return { _tag: "Done", send, rest: this.input.take(this.input.length) }
  }
}

/** Client side: sends C0+C1 at once, answers S1 with C2, is done after S2. */
export class ClientHandshake {
  private readonly input = new Accumulator()
  private readonly c1 = makeSignedPacket(CLIENT_VERSION, PLAYER_KEY.subarray(0, PLAYER_KEY_TEXT.length), 0)
  private stage: "S0" | "S1" | "S2" = "S0"
  /** Set once S1 arrived: whether the server answered with the digest scheme. */
  serverUsedDigest = false

  /** C0+C1, to send as soon as the TCP connection is open. */
  start(): Buffer {
    return Buffer.concat([Buffer.of(RTMP_VERSION), this.c1])
  }

  receive(bytes: Uint8Array): HandshakeStep {
    this.input.push(bytes)
    let send: Buffer | undefined
    if (this.stage === "S0") {
      if (this.input.length < 1) return { _tag: "Continue", send }
      checkVersion(this.input.take(1)[0] as number)
      this.stage = "S1"
    }
    if (this.stage === "S1") {
      if (this.input.length < HANDSHAKE_SIZE) return { _tag: "Continue", send }
      const s1 = this.input.take(HANDSHAKE_SIZE)
      // Servers that answer the simple way (YouTube sends a non-zero version anyway) get an echo.
      const found = findDigest(s1, FMS_KEY.subarray(0, FMS_KEY_TEXT.length))
      this.serverUsedDigest = found !== undefined
      send = found === undefined ? Buffer.from(s1) : makeDigestResponse(found.digest, PLAYER_KEY)
      this.stage = "S2"
    }
    if (this.input.length < HANDSHAKE_SIZE) return { _tag: "Continue", send }
    this.input.take(HANDSHAKE_SIZE) // S2: not verified, as real servers vary (echo or signed)
    return { _tag: "Done", send, rest: this.input.take(this.input.length) }
  }
}
