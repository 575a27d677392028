/** Polling with deadlines: tests wait for a condition, never for a fixed time, so a slow machine only slows them. */
import { Chunk, Effect, TestClock } from "effect"

export class DeadlineExceeded extends Error {}

/** Resolves once `condition()` holds; rejects after `timeoutMs` with `what` in the message. */
export const waitUntil = async (
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  everyMs = 20
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new DeadlineExceeded(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** The same as an Effect, for tests that drive the TestClock: real time passes between checks. */
export const eventually = (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000) =>
  Effect.promise(() => waitUntil(what, condition, timeoutMs))

/**
 * Waits (in real time, bounded) until at least `count` fibers sleep on the TestClock until exactly
 * `untilMillis`: the timers under test are armed, so `TestClock.adjust` will reach them. Replaces "sleep a bit
 * and hope the server got there" before and after adjusting the clock.
 */
export const timersArmed = (untilMillis: number, count = 1, timeoutMs = 10_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const sleeps = yield* TestClock.sleeps()
      if (Chunk.size(Chunk.filter(sleeps, (at) => at === untilMillis)) >= count) return
      if (Date.now() > deadline) {
        return yield* Effect.die(new DeadlineExceeded(`timed out waiting for ${count} timer(s) at ${untilMillis} ms; pending: ${Chunk.join(Chunk.map(sleeps, String), ", ")}`))
      }
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
    }
  })
