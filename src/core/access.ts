/**
 * Who gets in, for every protocol: a publish or play request is authorized, then joins the registry,
 * and leaves it when the caller's scope closes, whatever closes it. The RTMP connection, the HTTP and
 * WebSocket viewers and the relays all come through here, so the rules exist once.
 */
import * as Effect from "effect/Effect"
import type { LiveStream, PublisherInfo, StreamSubscriber } from "../media/stream.js"
import { type AccessRequest, Authorization } from "./auth.js"
import { StreamPlacement } from "./placement.js"
import { StreamRegistry } from "./registry.js"
import { acquireUntilClose } from "./finalizers.js"

export interface Publishing {
  readonly stream: LiveStream
  readonly publisher: PublisherInfo
  /** The public name the stream went live under (a publish key maps to one). */
  readonly name: string
}

export class Access extends Effect.Service<Access>()("effect-rtmp/Access", {
  effect: Effect.gen(function* () {
    const registry = yield* StreamRegistry
    const auth = yield* Authorization
    const placement = yield* StreamPlacement

    const join = Effect.fnUntraced(function* (app: string, name: string, publisher: PublisherInfo, claim = true) {
      // In a cluster the stream is claimed for this node first (a copy pulled from its owner is not).
      const policy = placement.current()
      if (claim && policy !== undefined) yield* policy.claim(app, name, publisher.connectionId, publisher.credential)
      // Joined and its finalizer added in one uninterruptible step: a connection that ends meanwhile
      // interrupts its request, and must not leave a publisher behind.
      const stream = yield* acquireUntilClose(registry.publish(app, name, publisher), (stream) => registry.unpublish(stream, publisher))
      return { stream, publisher, name } satisfies Publishing
    })

    /**
     * Admits a publisher: authorization (which may map a key to its public name), then the registry
     * (refused while another live publisher owns the stream, or a takeover). Unpublished with the scope.
     * `kick` ends the publisher's connection when a newer one takes the stream over.
     */
    const authorizePublish = Effect.fn("Access.publish")((request: AccessRequest) => auth.publish(request))
    const publish = (request: AccessRequest, kick: (reason: string) => void) =>
      authorizePublish(request).pipe(
        // The span covers the decision; joining the registry comes after it.
        Effect.flatMap((grant) => join(request.app, grant.name, { connectionId: request.connectionId, credential: grant.credential, kick }))
      )

    /**
     * A publisher the operator configured (a pull relay): no authorization, the registry's rules only.
     * `claim: false` for a cluster edge's copy of a stream another node owns.
     */
    const publishTrusted = (app: string, name: string, publisher: PublisherInfo, options: { readonly claim?: boolean } = {}) =>
      join(app, name, publisher, options.claim ?? true)

    /** Admits a viewer of any output: authorization, then membership of the stream until the scope closes. */
    const authorizePlay = Effect.fn("Access.play")((request: AccessRequest) => auth.play(request))
    const play = (request: AccessRequest, viewer: StreamSubscriber) =>
      authorizePlay(request).pipe(
        // After the span, as for publish; joined and the finalizer added in one uninterruptible step.
        Effect.zipRight(
          acquireUntilClose(registry.play(request.app, request.name, viewer, request.connectionId), (stream) =>
            registry.leave(stream, viewer, request.connectionId)
          )
        ),
        Effect.tap((stream) => {
          const policy = placement.current()
          return policy !== undefined && !stream.isLive ? policy.remotePlay(request) : Effect.void
        })
      )

    /** A subscriber the operator configured (a push relay): no authorization. */
    const playTrusted = (app: string, name: string, viewer: StreamSubscriber, id: string) =>
      acquireUntilClose(registry.play(app, name, viewer, id), (stream) => registry.leave(stream, viewer, id))

    return { publish, publishTrusted, play, playTrusted } as const
  })
}) {}
