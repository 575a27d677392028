import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Schedule, TestClock } from "effect"
import { RelayHealth } from "../../src/relay/health.js"
import { RelayError, retryPolicy, superviseRelay } from "../../src/relay/supervisor.js"

const noJitter = retryPolicy({ base: "1 second", max: "10 seconds", maxAttempts: 0, jitter: false })

const delaysOf = (schedule: Schedule.Schedule<unknown, unknown>, n: number) =>
  Schedule.run(Schedule.delays(schedule), 0, Array.from({ length: n }, (_, i) => i)).pipe(
    Effect.map((out) => Chunk.toReadonlyArray(out).map(Duration.toMillis))
  )

describe("retry policy", () => {
  it.effect("doubles from the base and is capped", () =>
    Effect.gen(function* () {
      expect(yield* delaysOf(noJitter, 7)).toEqual([1000, 2000, 4000, 8000, 10000, 10000, 10000])
    }))

  it.effect("jitter keeps every delay within [½, 1] of the unjittered one, cap included", () =>
    Effect.gen(function* () {
      const jittered = yield* delaysOf(retryPolicy({ base: "1 second", max: "10 seconds", maxAttempts: 0, jitter: true }), 7)
      const plain = [1000, 2000, 4000, 8000, 10000, 10000, 10000]
      jittered.forEach((d, i) => {
        expect(d).toBeGreaterThanOrEqual((plain[i] as number) / 2)
        expect(d).toBeLessThanOrEqual(plain[i] as number)
      })
    }))

  it.effect("maxAttempts bounds the retries", () =>
    Effect.gen(function* () {
      const bounded = retryPolicy({ base: "1 second", max: "10 seconds", maxAttempts: 3, jitter: false })
      expect((yield* delaysOf(bounded, 10)).length).toBe(4) // three delays, then the final (done) step
    }))
})

/** An attempt that fails at once, counting how often it ran. */
const failing = (counter: { n: number }) => () =>
  Effect.suspend(() => {
    counter.n++
    return Effect.fail(new RelayError({ reason: "Connect", message: "refused" }))
  })

describe("superviseRelay on the TestClock", () => {
  it.effect("a remote that fails N times gets exactly N+1 attempts by the sum of the first N delays", () =>
    Effect.gen(function* () {
      const attempts = { n: 0 }
      const fiber = yield* superviseRelay({ id: "r", remote: "rtmp://x:1935/live/***", policy: noJitter, attempt: failing(attempts) }).pipe(
        Effect.fork
      )
      yield* TestClock.adjust(Duration.zero)
      expect(attempts.n).toBe(1)
      // delays 1 + 2 + 4 + 8 = 15 s for N = 4
      yield* TestClock.adjust("14999 millis")
      expect(attempts.n).toBe(4)
      yield* TestClock.adjust("1 millis")
      expect(attempts.n).toBe(5)
      const health = yield* RelayHealth
      const report = yield* health.get("r")
      expect(report?.status._tag).toBe("Backoff")
      expect(report?.status._tag === "Backoff" && report.status.attempt).toBe(5)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(RelayHealth.Default)))

  it.effect("a connection that was healthy resets the schedule to its first delay", () =>
    Effect.gen(function* () {
      let runs = 0
      const attempt = (control: { markHealthy: Effect.Effect<void> }) =>
        Effect.gen(function* () {
          runs++
          if (runs === 4) {
            yield* control.markHealthy // the fourth connection delivered media for a while
            yield* Effect.sleep("1 minute")
          }
          return yield* new RelayError({ reason: "Closed", message: "dropped" })
        })
      const fiber = yield* superviseRelay({ id: "h", remote: "r", policy: noJitter, attempt }).pipe(Effect.fork)
      yield* TestClock.adjust("7 seconds") // attempts at 0, 1, 3, 7
      expect(runs).toBe(4)
      yield* TestClock.adjust("60 seconds") // the healthy one ends at 67 s
      expect(runs).toBe(4)
      yield* TestClock.adjust("1 second") // back to the first delay: 68 s, not 67 + 8
      expect(runs).toBe(5)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(RelayHealth.Default)))

  it.effect("stops, and says so, when the schedule gives up", () =>
    Effect.gen(function* () {
      const attempts = { n: 0 }
      const policy = retryPolicy({ base: "1 second", max: "1 second", maxAttempts: 2, jitter: false })
      const fiber = yield* superviseRelay({ id: "s", remote: "r", policy, attempt: failing(attempts) }).pipe(Effect.fork)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      expect(attempts.n).toBe(3)
      const health = yield* RelayHealth
      expect((yield* health.get("s"))?.status._tag).toBe("Stopped")
    }).pipe(Effect.provide(RelayHealth.Default)))
})
