/**
 * Property fuzzing of the sans-IO layers: whatever the bytes, only typed protocol errors come out, and the
 * work done stays proportional to the input. Case counts are fixed so CI time is bounded.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { isProtocolError } from "../../src/protocol/errors.js"
import { ServerHandshake } from "../../src/protocol/handshake.js"
import { ServerSession } from "../../src/session/server-session.js"
import { type Mutation, mutate, validPublisherStream } from "./sessions.js"

const HANDSHAKE_CASES = 1500
const SESSION_CASES = 3000

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 24 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() })
)

/** A server session whose requests are all granted; `drain` resumes it after each one, as the connection does. */
const newSession = () => {
  let resumeDue = false
  const session: ServerSession = new ServerSession(
    {
      chunkSize: 4096,
      windowAckSize: 5e6,
      peerBandwidth: 5e6,
      maxStreams: 16,
      limits: { maxMessageSize: 1 << 20, maxChunkStreams: 64, maxBufferedBytes: 1 << 21 }
    },
    () => {},
    {
      request: (request) => {
        if (request._tag === "Connect") session.acceptConnect(request.transactionId, 0, request.app ?? "")
        resumeDue = true
      },
      media: () => {},
      data: () => {}
    }
  )
  const drain = () => {
    while (resumeDue) {
      resumeDue = false
      session.resume()
    }
  }
  return { session, drain }
}

const onlyProtocolErrors = (f: () => void) => {
  try {
    f()
  } catch (e) {
    if (!isProtocolError(e)) throw e
  }
}

describe("fuzzing", () => {
  it(`handshake: ${HANDSHAKE_CASES} random inputs give progress or a HandshakeError, nothing else`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), fc.boolean(), (bytes, validVersion) => {
        const input = Buffer.from(bytes)
        if (validVersion && input.length > 0) input[0] = 3
        onlyProtocolErrors(() => {
          const step = new ServerHandshake().receive(input)
          if (validVersion && input.length >= 1 + 1536) expect(step.send?.length).toBe(1 + 2 * 1536)
        })
      }),
      { numRuns: HANDSHAKE_CASES }
    )
  })

  it(`server session: ${SESSION_CASES} mutated publisher sessions give only typed errors`, async () => {
    const valid = validPublisherStream()
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 512 }), async (mutations, split) => {
        const bytes = mutate(valid, mutations)
        const { session, drain } = newSession()
        onlyProtocolErrors(() => {
          for (let at = 0; at < bytes.length; at += split) {
            session.receive(bytes.subarray(at, at + split))
            drain()
          }
        })
      }),
      { numRuns: SESSION_CASES }
    )
  })
})
