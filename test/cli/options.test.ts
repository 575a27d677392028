import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { normalizeArgv, serveOptions, toServerConfig } from "../../src/cli/options.js"
import { defaults, type ServerConfigShape } from "../../src/core/config.js"

const parse = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    let parsed: ServerConfigShape | undefined
    const command = Command.make("x", serveOptions, (options) => Effect.sync(() => (parsed = toServerConfig(options))))
    yield* Command.run(command, { name: "x", version: "0" })(normalizeArgv(["node", "x", ...args]))
    return parsed as ServerConfigShape
  }).pipe(Effect.provide(NodeContext.layer))

describe("serve flags", () => {
  it.effect("with no flags, every setting is the documented default", () =>
    Effect.gen(function* () {
      expect(yield* parse([])).toEqual(defaults)
    }))

  it.effect("--no-gop-cache turns the GOP cache off and --gop-cache on", () =>
    Effect.gen(function* () {
      expect((yield* parse(["--no-gop-cache"])).gopCache).toBe(false)
      expect((yield* parse(["--gop-cache"])).gopCache).toBe(true)
    }))

  it.effect("flags set their settings", () =>
    Effect.gen(function* () {
      const config = yield* parse(["--host", "127.0.0.1", "-p", "19350", "--chunk-size", "60000", "--handshake-timeout", "3"])
      expect(config).toMatchObject({ host: "127.0.0.1", port: 19350, chunkSize: 60000 })
      expect(Duration.toSeconds(config.handshakeTimeout)).toBe(3)
    }))
})
