/**
 * Where streams live when nodes form a cluster, as the stream core sees it: a policy that the cluster
 * layer installs (the core stays free of Redis and of relays). Without one — a single node — nothing
 * changes: every publish is local and every play waits for a local publisher.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { AccessRequest, AuthDenied } from "./auth.js"
import type { StreamBusy } from "./registry.js"

export interface PlacementPolicy {
  /**
   * Before a local publish: claims the stream for this node until the scope closes; fails when another
   * live node owns it, unless the publisher proves the same credential (an encoder that reconnected
   * through a load balancer to another node takes its stream over, as on one node).
   */
  readonly claim: (app: string, name: string, connectionId: string, credential: string | undefined) => Effect.Effect<void, StreamBusy, Scope.Scope>
  /** A play of a stream that is not live here: fetch it from the node that has it, or refuse fast (directory down). */
  readonly remotePlay: (request: AccessRequest) => Effect.Effect<void, AuthDenied>
  /** An LL-HLS request for a stream that is not live here (HLS viewers hold no connection, so they are counted by use). */
  readonly remoteHls: (app: string, name: string) => void
  /** An LL-HLS playlist request for a live stream: keeps an edge pull of it in use (synchronous, cheap). */
  readonly touch: (app: string, name: string) => void
}

export class StreamPlacement extends Effect.Service<StreamPlacement>()("effect-rtmp/StreamPlacement", {
  effect: Effect.sync(() => {
    let policy: PlacementPolicy | undefined
    return {
      /** The installed policy, if any (read on the control path only). */
      current: (): PlacementPolicy | undefined => policy,
      /** Installs `next` until the caller's scope closes. */
      install: (next: PlacementPolicy) =>
        Effect.acquireRelease(
          Effect.sync(() => void (policy = next)),
          () => Effect.sync(() => void (policy = undefined))
        )
    } as const
  })
}) {}
