/**
 * Honest relay health: each relay's state (waiting for its source, connecting, live, backing off,
 * stopped), readable at any time and logged on every transition with the remote URL, stream key redacted.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"

export type RelayStatus = Data.TaggedEnum<{
  /** A push whose local source is not live. */
  Waiting: { readonly reason: string }
  Connecting: { readonly attempt: number }
  /** Media is flowing. */
  Live: { readonly since: number }
  Backoff: { readonly attempt: number; readonly nextRetryAt: number; readonly lastError: string }
  Stopped: { readonly reason: string }
}>
export const RelayStatus = Data.taggedEnum<RelayStatus>()

export interface RelayReport {
  readonly id: string
  /** The remote URL with its stream name redacted. */
  readonly remote: string
  readonly status: RelayStatus
}

const describe = (status: RelayStatus): string =>
  RelayStatus.$match(status, {
    Waiting: ({ reason }) => `waiting (${reason})`,
    Connecting: ({ attempt }) => `connecting (attempt ${attempt})`,
    Live: () => "live",
    Backoff: ({ attempt, nextRetryAt, lastError }) =>
      `backing off after failure ${attempt} (${lastError}); next attempt at ${new Date(nextRetryAt).toISOString()}`,
    Stopped: ({ reason }) => `stopped (${reason})`
  })

export class RelayHealth extends Effect.Service<RelayHealth>()("effect-rtmp/RelayHealth", {
  effect: Effect.gen(function* () {
    const reports = yield* SubscriptionRef.make<ReadonlyMap<string, RelayReport>>(new Map())

    const set = (id: string, remote: string, status: RelayStatus) =>
      SubscriptionRef.update(reports, (map) => new Map(map).set(id, { id, remote, status })).pipe(
        Effect.zipRight(Effect.logInfo(`Relay ${id}: ${describe(status)}`)),
        Effect.annotateLogs({ relay: id })
      )

    const get = (id: string) => SubscriptionRef.get(reports).pipe(Effect.map((map) => map.get(id)))

    const all = SubscriptionRef.get(reports).pipe(Effect.map((map) => [...map.values()]))

    /** Waits until relay `id` reaches a state `predicate` accepts (for tests and readiness checks). */
    const waitFor = (id: string, predicate: (status: RelayStatus) => boolean): Effect.Effect<RelayStatus> =>
      reports.changes.pipe(
        Stream.map((map) => map.get(id)?.status),
        Stream.filter((status): status is RelayStatus => status !== undefined && predicate(status)),
        Stream.runHead,
        Effect.map(Option.getOrThrow)
      )

    return { set, get, all, waitFor } as const
  })
}) {}
