import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import type { Directory } from "./directory.js"

/**
 * Static relays (`--pull`) configured on several nodes run on exactly one: the holder of the relay's
 * lease in Redis, renewed every third of the TTL. A node that cannot renew because Redis is away keeps
 * running what it holds; one whose renewal is refused stops at once; the others try again every half
 * TTL (jittered), so a dead runner is replaced within about one TTL.
 */
export const leased = <E, R>(directory: Directory, id: string, relay: Effect.Effect<void, E, R>) =>
  Effect.gen(function* () {
    const fibers = yield* FiberMap.make<"relay">()
    const ttl = directory.ttl
    for (;;) {
      const held = yield* directory.lease(id).pipe(Effect.either)
      const running = yield* FiberMap.has(fibers, "relay")
      if (held._tag === "Right" && held.right && !running) {
        yield* Effect.logInfo(`Cluster: relay ${id} runs on this node (lease taken)`)
        yield* FiberMap.run(fibers, "relay", relay)
      } else if (held._tag === "Right" && !held.right && running) {
        yield* Effect.logWarning(`Cluster: relay ${id} lease is held by another node; stopping it here`)
        yield* FiberMap.remove(fibers, "relay")
      }
      const wait = (yield* FiberMap.has(fibers, "relay")) ? ttl / 3 : (ttl / 2) * (0.75 + Math.random() * 0.5)
      yield* Effect.sleep(Duration.millis(Math.max(100, Math.round(wait))))
    }
  }).pipe(Effect.ensuring(directory.unlease(id)), Effect.scoped)
