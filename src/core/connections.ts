/**
 * Every open client connection, whatever its protocol, as the API shows it and can end it. Each
 * connection registers a live view of itself for as long as its scope lives; nothing is copied on the
 * media path (the API reads the counters when asked).
 */
import * as Effect from "effect/Effect"

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
}

export class Connections extends Effect.Service<Connections>()("effect-rtmp/Connections", {
  effect: Effect.sync(() => {
    const open = new Map<string, ConnectionView>()
    return {
      /** Lists `view` until the caller's scope closes. */
      register: (view: ConnectionView) =>
        Effect.acquireRelease(
          Effect.sync(() => void open.set(view.id, view)),
          () => Effect.sync(() => void open.delete(view.id))
        ),
      list: Effect.sync(() => [...open.values()]),
      get: (id: string) => Effect.sync(() => open.get(id))
    } as const
  })
}) {}
