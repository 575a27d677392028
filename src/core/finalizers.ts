/**
 * Finalizers for state that lives as long as a connection (its socket, its registry memberships).
 *
 * `Effect.addFinalizer` and `Effect.acquireRelease` keep the fiber refs of the moment they were called, to
 * run the finalizer with them; a fiber's refs are a new map after every span or annotation, so each such
 * call on a connection's path kept its own copy (~0.7 KB) for the connection's lifetime: ~3 KB per player,
 * measured in heap snapshots. These add to the scope directly; the finalizer runs in the fiber that closes
 * the scope (for a connection, its own fiber, with its log annotations).
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"

/** Runs `finalizer` when the current scope closes. */
export const onScopeClose = (finalizer: Effect.Effect<void>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, finalizer))

/**
 * `acquire`, then `release` of what it gave when the current scope closes (`acquire` is not interrupted
 * midway). `release` is called then, not now: a traced release (an `Effect.fn`) built up front was kept for
 * the scope's lifetime with its span options and captured call stack (~0.7 KB per player in heap snapshots).
 */
export const acquireUntilClose = <A, E, R>(acquire: Effect.Effect<A, E, R>, release: (a: A) => Effect.Effect<void>): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.uninterruptible(Effect.tap(acquire, (a) => onScopeClose(Effect.suspend(() => release(a)))))
