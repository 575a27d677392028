/**
 * Log annotations set on the current fiber, for effects that are a long-lived fiber's whole life (an RTMP
 * connection, an HTTP/WS viewer). `Effect.annotateLogs` scopes them around the effect instead, and a fiber
 * parked for as long as a connection lives keeps those frames meanwhile (~3 KB per fiber, measured with
 * 5,000 parked fibers).
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"

/** Adds `annotations` to the current fiber's; gives back the ones before, for an effect that must put them back. */
export const setFiberAnnotations = (annotations: Readonly<Record<string, string>>): Effect.Effect<HashMap.HashMap<string, unknown>> =>
  FiberRef.modify(FiberRef.currentLogAnnotations, (before) => [
    before,
    Object.entries(annotations).reduce((map, [key, value]) => HashMap.set(map, key, value), before)
  ])

/** Runs `effect` with `annotations` set on its fiber: only for an effect that is its fiber's whole life (they outlive it). */
export const annotateOwnFiber =
  (annotations: Readonly<Record<string, string>>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.zipRight(setFiberAnnotations(annotations), effect)
