import { afterEach, describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Logger } from "effect"
import { Console as NodeConsole } from "node:console"
import { Writable } from "node:stream"
import { singleWriteLogger } from "../../src/cli/logger.js"

/** Sends the global console's log/group calls to a Node Console writing into `out` (group indentation included). */
const captureConsole = () => {
  let out = ""
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString()
      done()
    }
  })
  const captured = new NodeConsole({ stdout: sink, stderr: sink, colorMode: false })
  const saved = { log: console.log, error: console.error, group: console.group, groupEnd: console.groupEnd }
  console.log = captured.log.bind(captured)
  console.error = captured.error.bind(captured)
  console.group = captured.group.bind(captured)
  console.groupEnd = captured.groupEnd.bind(captured)
  return { text: () => out, restore: () => Object.assign(console, saved) }
}

let restore = () => {}
afterEach(() => restore())

describe("the single-write pretty logger", () => {
  it("writes what Effect's pretty logger prints without colours, one write per entry", async () => {
    const capture = captureConsole()
    restore = capture.restore
    const writes: Array<string> = []
    const both = Logger.zip(Logger.prettyLogger({ colors: false }), singleWriteLogger((text) => writes.push(text)))
    const program = Effect.gen(function* () {
      yield* Effect.logInfo("Playing live/x")
      yield* Effect.logWarning("two values", { a: 1, nested: { b: [1, 2] } }).pipe(Effect.withLogSpan("join"))
      yield* Effect.logError("failed", Cause.fail(new Error("boom\nsecond line")))
      yield* Effect.log(42)
    }).pipe(Effect.annotateLogs({ connection: "c7", remote: "127.0.0.1:5000" }))
    await Effect.runPromise(program.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, both))))
    await new Promise((resolve) => setImmediate(resolve)) // the Writable's callbacks
    expect(writes).toHaveLength(4)
    expect(writes.join("")).toBe(capture.text())
    expect(writes[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(#\d+\): Playing live\/x\n/)
    expect(writes[0]).toContain("\n  connection: c7\n")
    expect(writes[0]).toContain("\n  remote: 127.0.0.1:5000\n")
  })
})
