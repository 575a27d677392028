/** Polling with deadlines: tests wait for a condition, never for a fixed time, so a slow machine only slows them. */
import { Effect } from "effect"

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
