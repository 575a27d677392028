/**
 * Every open client connection, whatever its protocol, as the API shows it and can end it. Each
 * connection registers a live view of itself for as long as its scope lives; nothing is copied on the
 * media path (the API reads the counters when asked).
 *
 * One sweep a second calls each connection's `watch` (pings, idle limits): a timer and a fiber per
 * connection cost ~6 KB of heap each, a thousand players 6 MB, for a check nobody needs to the millisecond.
 */
import * as Effect from "effect/Effect"
import { acquireUntilClose } from "./finalizers.js"
import { idleSweep } from "./periodic.js"

/** How often every connection's `watch` runs. */
export const WATCH_PERIOD_MILLIS = 1000

export type ConnectionRole = "connecting" | "publisher" | "player" | "viewer"

export interface ConnectionView {
  readonly id: string
  /** `ip:port` of the peer. */
  readonly remote: string
  readonly protocol: string
  readonly connectedAt: number
  role(): ConnectionRole
  /** `app/name` of the stream it publishes or plays, if any. */
  stream(): string | undefined
  bytesIn(): number
  bytesOut(): number
  queuedBytes(): number
  droppedFrames(): number
  /** Ends the connection (the API's DELETE). */
  kick(reason: string): void
  /**
   * Asks an E-RTMP client to reconnect (`NetConnection.Connect.ReconnectRequest`), to `tcUrl` when given;
   * it keeps being served until it leaves. False when the client did not declare the Reconnect capability
   * (unless `force`: legacy clients ignore the request, harmlessly) or the protocol has no such request.
   */
  requestReconnect?(tcUrl: string | undefined, description: string, force?: boolean): boolean
  /** Called every `WATCH_PERIOD_MILLIS` with the clock's time: time limits are checked here. */
  watch?(now: number): void
}

export class Connections extends Effect.Service<Connections>()("effect-rtmp/Connections", {
  scoped: Effect.gen(function* () {
    const open = new Map<string, ConnectionView>()
    const clock = yield* Effect.clock
    const sweep = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const view of open.values()) {
        try {
          view.watch?.(now)
        } catch (cause) {
          view.kick(`internal error in its checks: ${String(cause)}`) // one connection's bug must not stop the others' checks
        }
      }
    })
    // Without connections it sleeps until the next one comes.
    const sweeps = yield* idleSweep(WATCH_PERIOD_MILLIS, () => open.size > 0, sweep)
    yield* Effect.forkScoped(sweeps.run)
    return {
      /** Lists `view` until the caller's scope closes. */
      register: (view: ConnectionView) =>
        acquireUntilClose(
          Effect.sync(() => {
            open.set(view.id, view)
            sweeps.wake()
          }),
          () => Effect.sync(() => void open.delete(view.id))
        ),
      list: Effect.sync(() => [...open.values()]),
      get: (id: string) => Effect.sync(() => open.get(id))
    } as const
  })
}) {}
