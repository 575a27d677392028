/**
 * Log annotations for an effect that is its fiber's whole life (an HTTP/WS viewer run by a fiber set):
 * set on that fiber once. `Effect.annotateLogs` scopes them around the effect instead, and a fiber parked
 * for as long as a viewer watches keeps those frames meanwhile (~3 KB per fiber, measured with 5,000
 * parked fibers). Not for an effect that shares its fiber: the annotations would outlive it.
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"

export const annotateOwnFiber =
  (annotations: Readonly<Record<string, string>>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.zipRight(
      FiberRef.update(FiberRef.currentLogAnnotations, (current) =>
        Object.entries(annotations).reduce((map, [key, value]) => HashMap.set(map, key, value), current)
      ),
      effect
    )
