import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { idleSweep, pollUntil } from "../../src/core/periodic.js"

describe("periodic work on Effect's clock", () => {
  it.effect("pollUntil completes once its condition holds, looking every period", () =>
    Effect.gen(function* () {
      let looks = 0
      let done = false
      const fiber = yield* Effect.fork(pollUntil(50, () => (looks++, done)))
      yield* TestClock.adjust(120)
      expect(looks).toBe(3)
      done = true
      yield* TestClock.adjust(50)
      expect(yield* Fiber.await(fiber)).toMatchObject({ _tag: "Success" })
    })
  )

  it.effect("idleSweep sleeps while there is nothing to sweep, runs every period once woken, and sleeps again when idle", () =>
    Effect.gen(function* () {
      let items = 0
      let runs = 0
      const sweep = yield* idleSweep(100, () => items > 0, Effect.sync(() => runs++))
      const fiber = yield* Effect.fork(sweep.run)
      yield* TestClock.adjust(1000)
      expect(runs).toBe(0) // idle: not a single wake-up

      items = 1
      sweep.wake()
      yield* TestClock.adjust(0)
      expect(runs).toBe(1)
      yield* TestClock.adjust(300)
      expect(runs).toBe(4)

      items = 0 // the next sweep still runs (it may have work left), then it sleeps
      yield* TestClock.adjust(1000)
      const idleRuns = runs
      expect(idleRuns).toBeLessThanOrEqual(5)
      yield* TestClock.adjust(1000)
      expect(runs).toBe(idleRuns)

      items = 2
      sweep.wake()
      sweep.wake() // waking an awake sweep changes nothing
      yield* TestClock.adjust(250)
      expect(runs).toBe(idleRuns + 3)
      yield* Fiber.interrupt(fiber)
    })
  )

  it.effect("idleSweep does not lose a wake that comes while it sleeps after its last sweep", () =>
    Effect.gen(function* () {
      let items = 1
      let runs = 0
      const sweep = yield* idleSweep(100, () => items > 0, Effect.sync(() => runs++))
      const fiber = yield* Effect.fork(sweep.run)
      sweep.wake()
      yield* TestClock.adjust(0)
      expect(runs).toBe(1)
      // The last item goes and a new one comes during the sleep: the sweep sees it and keeps running.
      items = 0
      yield* TestClock.adjust(50)
      items = 1
      sweep.wake()
      yield* TestClock.adjust(450)
      expect(runs).toBe(6)
      yield* Fiber.interrupt(fiber)
    })
  )
})
