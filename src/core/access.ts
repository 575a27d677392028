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
import { acquireUntilClose, onScopeClose } from "./finalizers.js"

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
      const stream = yield* registry.publish(app, name, publisher)
      yield* onScopeClose(registry.unpublish(stream, publisher))
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
        // Joined outside the span: a finalizer keeps the fiber refs it was added with, the span among them,
        // for as long as the stream is published (1.4 KB per connection, mostly the span's ids).
        Effect.flatMap((grant) => join(request.app, grant.name, { connectionId: request.connectionId, credential: grant.credential, kick }))
      )

    /**
     * A publisher the operator configured (a pull relay): no authorization, the registry's rules only.
     * `claim: false` for a cluster edge's copy of a stream another node owns.
     */
    const publishTrusted = (app: string, name: string, publisher: PublisherInfo, options: { readonly claim?: boolean } = {}) =>
      join(app, name, publisher, options.claim ?? true)

    /** Admits a viewer of any output: authorization, then membership of the stream until the scope closes. */
    const admitViewer = Effect.fn("Access.play")(function* (request: AccessRequest, viewer: StreamSubscriber) {
      yield* auth.play(request)
      return yield* registry.play(request.app, request.name, viewer, request.connectionId)
    })
    const play = (request: AccessRequest, viewer: StreamSubscriber) =>
      admitViewer(request, viewer).pipe(
        // Outside the span, as for publish: the leave finalizer lives as long as the viewer.
        Effect.tap((stream) => onScopeClose(registry.leave(stream, viewer, request.connectionId))),
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
