/**
 * Periodic work on Effect's clock (so the TestClock drives it in tests), at the least garbage a clock-driven
 * loop makes. Measured per iteration (sampling heap profiler, a no-op body): `Effect.repeat` with
 * `Schedule.spaced` ~37 KB, a loop of `Effect.sleep` ~11 KB (a plain `setInterval` ~0.4 KB, but off the
 * clock). The server's sweeps run five times a second; with schedules they were ~180 KB/s of garbage, most
 * of what an idle server allocated and a seventh of what 16 publishers do. An FLV viewer that comes before
 * the publisher looks ten times a second: with a schedule, 200 of them made 68 MiB/s of garbage (13 now).
 */
import * as Effect from "effect/Effect"

/** A sweep made by `idleSweep`: `wake()` when something to sweep appears. */
export interface IdleSweep<E, R> {
  readonly wake: () => void
  /** Runs the sweep forever (fork it in the owner's scope). */
  readonly run: Effect.Effect<never, E, R>
}

/**
 * Runs `effect` now and then every `millis` (after each run ends), forever — for a sweep that has nothing to
 * do most of the time (no connection, no HLS packager): while `busy()` is false it waits for `wake()` instead
 * of waking every `millis`, so that an idle server makes no wake-ups of its own (five a second were ~0.5 % of
 * a core on this machine, more than all its JavaScript).
 */
export const idleSweep = <A, E, R>(millis: number, busy: () => boolean, effect: Effect.Effect<A, E, R>): Effect.Effect<IdleSweep<E, R>> =>
  Effect.map(Effect.makeLatch(false), (latch) => {
    // Closed only after a sweep found nothing: a `wake` during the sleep before is not lost.
    const rest = Effect.sync(() => {
      if (!busy()) latch.unsafeClose()
    })
    const once = Effect.zipRight(latch.await, Effect.zipRight(Effect.zipRight(effect, Effect.sleep(millis)), rest))
    return { wake: () => latch.unsafeOpen(), run: Effect.forever(once) }
  })

/** Completes once `done()` is true, looking now and then every `millis`. */
export const pollUntil = (millis: number, done: () => boolean): Effect.Effect<void> => {
  const poll: Effect.Effect<void> = Effect.suspend(() => (done() ? Effect.void : Effect.zipRight(Effect.sleep(millis), poll)))
  return poll
}
