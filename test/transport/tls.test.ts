import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option } from "effect"
import * as path from "node:path"
import { ServerConfig } from "../../src/core/config.js"
import { loadTlsMaterial, TlsCertificates, TlsError } from "../../src/transport/tls.js"
import { makeTestCa, type TestCa } from "../support/certs.js"

let ca: TestCa
beforeAll(() => {
  ca = makeTestCa()
})
afterAll(() => ca.cleanup())

const DAY = 24 * 3600 * 1000

describe("the server certificate", () => {
  it("loads a certificate and its key, with the fingerprint openssl prints", () => {
    const leaf = ca.leaf("ok")
    const material = loadTlsMaterial(leaf.cert, leaf.key, Date.now())
    expect(material.fingerprint256).toBe(leaf.fingerprint256)
    expect(material.subject).toContain("CN=localhost")
  })

  it("says clearly, naming the flag, what is wrong: expired, not yet valid, mismatched key, unreadable, not PEM", () => {
    const leaf = ca.leaf("checks", ["localhost"], 1)
    const other = ca.leaf("other")
    expect(() => loadTlsMaterial(leaf.cert, leaf.key, Date.now() + 3 * DAY)).toThrow(/--tls-cert .* expired on/)
    expect(() => loadTlsMaterial(leaf.cert, leaf.key, Date.now() - 3 * DAY)).toThrow(/not valid before/)
    expect(() => loadTlsMaterial(leaf.cert, other.key, Date.now())).toThrow(/--tls-key .* does not belong to the certificate/)
    expect(() => loadTlsMaterial(path.join(ca.dir, "missing.pem"), leaf.key, Date.now())).toThrow(/cannot read --tls-cert/)
    expect(() => loadTlsMaterial(leaf.key, leaf.key, Date.now())).toThrow(/is not a PEM certificate/)
    expect(() => loadTlsMaterial(leaf.cert, leaf.cert, Date.now())).toThrow(TlsError)
  })

  it.effect("a bad certificate fails the layer at start-up with a TlsError; a cert without a key is a ConfigError", () =>
    Effect.gen(function* () {
      const bad = TlsCertificates.Default.pipe(
        Layer.provide(ServerConfig.layer({ tlsCert: Option.some(path.join(ca.dir, "nope.pem")), tlsKey: Option.some(path.join(ca.dir, "nope.key")) }))
      )
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(bad)))
      expect(Exit.isFailure(exit) && String(exit.cause)).toMatch(/TlsError.*cannot read --tls-cert/)
      const half = yield* Effect.exit(Effect.scoped(Layer.build(ServerConfig.layer({ tlsCert: Option.some("x.pem") }))))
      expect(Exit.isFailure(half) && String(half.cause)).toMatch(/--tls-cert and --tls-key go together/)
    })
  )
})
