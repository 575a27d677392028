/** Signed tokens: what is signed, and that a token opens exactly one (app, name) pair. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { createHmac } from "node:crypto"
import { signToken, tokens } from "../../src/core/auth.js"

const secret = Redacted.make("s3cret")
const expires = 4_102_444_800 // 2100-01-01

const request = (app: string, name: string, query: string) => ({ app, name, query, remoteAddress: "127.0.0.1", connectionId: "c1", protocol: "rtmp" })

describe("signed tokens", () => {
  it("sign LENGTH:app/name:expires, as the README documents", () => {
    const expected = createHmac("sha256", "s3cret").update(`4:live/cam:${expires}`).digest("hex")
    expect(signToken(secret, "live", "cam", expires)).toBe(expected)
  })

  it.effect("a token for live + sub/x does not open live/sub + x", () =>
    Effect.gen(function* () {
      const auth = tokens(secret, true)
      const query = `token=${signToken(secret, "live", "sub/x", expires)}&expires=${expires}`
      yield* auth.publish(request("live", "sub/x", query))
      const denied = yield* auth.publish(request("live/sub", "x", query)).pipe(Effect.flip)
      expect(denied.reason).toBe("bad token")
      const deniedPlay = yield* auth.play(request("live/sub", "x", query)).pipe(Effect.flip)
      expect(deniedPlay.reason).toBe("bad token")
    }))
})
