/**
 * Relay supervision: run one attempt (a connection) in its own scope; when it ends, wait as the retry
 * `Schedule` says, then try again — forever, unless the schedule ends. A connection that delivered
 * media for a while resets the schedule, so a relay that has worked for hours starts again from the
 * shortest delay. The schedule is a value, so tests and embedders choose their own.
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import type * as Scope from "effect/Scope"
import { RelayHealth, RelayStatus } from "./health.js"

export class RelayError extends Data.TaggedError("RelayError")<{
  readonly reason:
    | "Connect"
    | "Handshake"
    | "Tls"
    | "Timeout"
    | "Rejected"
    | "StreamNotFound"
    | "Closed"
    | "Protocol"
    | "Idle"
    | "Ended"
    | "LocalBusy"
    | "SlowRemote"
  readonly message: string
}> {}

export interface RetryPolicyOptions {
  /** First delay. */
  readonly base: Duration.DurationInput
  /** Longest delay. */
  readonly max: Duration.DurationInput
  /** Failures after which the relay gives up; 0 retries forever. */
  readonly maxAttempts: number
  /** Randomise each delay within [½, 1] of its value, so relays do not retry in lockstep. */
  readonly jitter: boolean
}

export const defaultRetryPolicy: RetryPolicyOptions = { base: "1 second", max: "30 seconds", maxAttempts: 0, jitter: true }

/** Exponential backoff (×2) from `base`, capped at `max`, optionally jittered and bounded. */
export const retryPolicy = (options: RetryPolicyOptions): Schedule.Schedule<unknown, unknown> => {
  const capped = Schedule.exponential(options.base, 2).pipe(Schedule.union(Schedule.spaced(options.max)))
  const jittered = options.jitter ? capped.pipe(Schedule.jitteredWith({ min: 0.5, max: 1 })) : capped
  return options.maxAttempts > 0 ? jittered.pipe(Schedule.intersect(Schedule.recurs(options.maxAttempts))) : jittered
}

export interface AttemptControl {
  /** The relay is delivering media: report it. */
  readonly markLive: Effect.Effect<void>
  /** The connection has delivered media long enough: the next failure starts the schedule over. */
  readonly markHealthy: Effect.Effect<void>
}

export interface SuperviseOptions<R> {
  readonly id: string
  /** Remote URL, redacted. */
  readonly remote: string
  readonly policy: Schedule.Schedule<unknown, RelayError>
  readonly attempt: (control: AttemptControl) => Effect.Effect<never, RelayError, R | Scope.Scope>
}

/** Runs attempts until the schedule gives up. Never fails: every error ends in a backoff or a stop. */
export const superviseRelay = <R>(options: SuperviseOptions<R>) =>
  Effect.gen(function* () {
    const health = yield* RelayHealth
    const { id, remote, policy } = options
    let state: unknown = policy.initial
    let failures = 0
    for (;;) {
      let healthy = false
      yield* health.set(id, remote, RelayStatus.Connecting({ attempt: failures + 1 }))
      const control: AttemptControl = {
        markLive: Clock.currentTimeMillis.pipe(Effect.flatMap((since) => health.set(id, remote, RelayStatus.Live({ since })))),
        markHealthy: Effect.sync(() => {
          healthy = true
        })
      }
      const error = yield* Effect.scoped(options.attempt(control)).pipe(Effect.flip)
      if (healthy) {
        state = policy.initial
        failures = 0
      }
      failures++
      const message = `${error.reason}: ${error.message}`
      yield* Effect.logWarning(`Relay ${id} failed: ${message}`).pipe(Effect.annotateLogs({ relay: id }))
      const now = yield* Clock.currentTimeMillis
      const [next, , decision] = yield* policy.step(now, error, state)
      if (ScheduleDecision.isDone(decision)) {
        yield* health.set(id, remote, RelayStatus.Stopped({ reason: `gave up after ${failures} failures; last: ${message}` }))
        return
      }
      state = next
      const nextRetryAt = ScheduleIntervals.start(decision.intervals)
      yield* health.set(id, remote, RelayStatus.Backoff({ attempt: failures, nextRetryAt, lastError: message }))
      yield* Effect.sleep(Duration.millis(Math.max(0, nextRetryAt - now)))
    }
  })
