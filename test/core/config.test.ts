/** Settings are checked once at start-up; a bad one is a typed ConfigError naming its flag, never a defect. */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer } from "effect"
import { defaults, flagOf, ServerConfig, validate } from "../../src/core/config.js"

const problem = (overrides: Partial<typeof defaults>) => Effect.runSync(Effect.either(validate({ ...defaults, ...overrides })))

describe("ServerConfig validation", () => {
  it("accepts the defaults", () => {
    expect(Either.isRight(problem({}))).toBe(true)
  })

  it("names the flag and the range in one line", () => {
    const result = problem({ chunkSize: 0 })
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "ConfigError", setting: "chunkSize", message: "--chunk-size must be between 128 and 16777215 (got 0)" })
    const duration = problem({ pingInterval: Duration.zero })
    expect(Either.isLeft(duration) && duration.left.message).toBe("--ping-interval must be more than 0 (got 0)")
  })

  it("derives flags from setting names", () => {
    expect(flagOf("maxConnectionsPerIp")).toBe("--max-connections-per-ip")
  })

  it.effect("a bad layer fails with the error, not a defect", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Layer.build(ServerConfig.layer({ port: -1 })).pipe(Effect.scoped))
      expect(exit._tag === "Failure" && exit.cause._tag).toBe("Fail")
    }))
})
