/**
 * Push relay: republishes a live local stream to a remote server. It behaves as a player of the local
 * stream in "publish" mode: metadata and sequence headers first, then media from a keyframe (the GOP
 * cache when there is one), with its own bounded queue — a slow or dead remote skips to the next
 * keyframe or is reconnected, and never slows the local publisher or its players. When the attempt
 * ends it unpublishes from the remote (FCUnpublish, deleteStream) while the connection still stands.
 *
 * It declares E-RTMP's Reconnect capability and honours a ReconnectRequest: it dials the given tcUrl
 * (or its own URL), republishes, keeps streaming on the old connection up to the next keyframe, moves
 * there, then unpublishes and closes the old connection.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Access } from "../core/access.js"
import { StreamRegistry } from "../core/registry.js"
import { TrackFilter } from "../media/tracks.js"
import { Viewer } from "../media/viewer.js"
import { stringProperty } from "../protocol/amf0.js"
import { CapsEx } from "../protocol/ertmp.js"
import { RtmpPublishSink } from "../rtmp/sinks.js"
import { inBatch } from "../transport/write-batch.js"
import { type ClientConnection, createStream, openClient } from "./client.js"
import type { RelaySettings } from "./pull.js"
import { type AttemptControl, RelayError } from "./supervisor.js"
import { redact, resolveTcUrl, type RtmpUrl } from "./url.js"

export interface PushSpec {
  readonly id: string
  readonly app: string
  readonly name: string
  readonly remote: RtmpUrl
}

const RECONNECT_REQUEST = "NetConnection.Connect.ReconnectRequest"

interface Destination {
  readonly url: RtmpUrl
  readonly connection: ClientConnection
  readonly streamId: number
  readonly scope: Scope.CloseableScope
}

export const pushAttempt = (spec: PushSpec, settings: RelaySettings) => (control: AttemptControl) =>
  Effect.gen(function* () {
    const registry = yield* StreamRegistry
    const access = yield* Access
    const source = yield* registry.lookup(spec.app, spec.name)
    if (source === undefined || !source.isLive) {
      return yield* new RelayError({ reason: "Ended", message: `${spec.app}/${spec.name} is not live` })
    }
    const slow = yield* Deferred.make<never, RelayError>()
    const clock = yield* Effect.clock

    /** Connects and publishes to `url` in a scope of its own (closing it unpublishes and disconnects). */
    const publishTo = (url: RtmpUrl) =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const opened = yield* Effect.gen(function* () {
          const connection = yield* openClient(url, {
            timeout: settings.timeout,
            chunkSize: settings.chunkSize,
            tls: settings.tls,
            maxUnreadBytes: settings.maxUnreadBytes,
            // Like OBS, no fourCcList when publishing; the Reconnect capability lets the server move us.
            connectProperties: [["capsEx", CapsEx.Reconnect]],
            onMedia: () => {},
            onData: () => {}
          })
          const streamId = yield* createStream(connection)
          connection.session.publish(streamId, url.stream)
          yield* connection.awaitEvent("publish reply", (event) => {
            if (event._tag !== "Status") return undefined
            if (event.code === "NetStream.Publish.Start") return Effect.void
            if (event.level === "error") return Effect.fail(new RelayError({ reason: "Rejected", message: `${redact(url)}: ${event.code} ${event.description}` }))
            return undefined
          }).pipe(Effect.flatten)
          yield* Effect.addFinalizer(() => Effect.sync(() => (connection.socket.destroyed ? undefined : connection.session.unpublish(streamId, url.stream))))
          return { url, connection, streamId, scope } satisfies Destination
        }).pipe(Scope.extend(scope), Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))))
        return opened
      })

    const sinkFor = (destination: Destination) =>
      new RtmpPublishSink(destination.streamId, settings.chunkSize, {
        write: destination.connection.writeMedia,
        queuedBytes: destination.connection.queuedBytes,
        disconnect: (reason) => Deferred.unsafeDone(slow, Exit.fail(new RelayError({ reason: "SlowRemote", message: `${redact(destination.url)}: ${reason}` })))
      })

    let current = yield* publishTo(spec.remote)
    yield* Effect.addFinalizer(() => Scope.close(current.scope, Exit.void))
    const filter = spec.remote.codecs === undefined ? undefined : TrackFilter.only(spec.remote.codecs, true)
    const pusher = new Viewer(sinkFor(current), settings.viewerLimits, () => clock.unsafeCurrentTimeMillis())
    // `#codecs=h264,aac`: a destination that takes only these (a Twitch-like target never gets HEVC).
    pusher.filter = filter
    const stream = yield* access.playTrusted(spec.app, spec.name, pusher, spec.id)
    yield* Effect.addFinalizer(() => Effect.sync(() => pusher.stop()))
    inBatch(() => pusher.start(stream))
    yield* control.markLive
    yield* Effect.sleep(settings.healthyAfter).pipe(Effect.zipRight(control.markHealthy), Effect.forkScoped)

    /** Moves to the connection a ReconnectRequest names, at the next keyframe. */
    const reconnect = (tcUrl: string | undefined) =>
      Effect.gen(function* () {
        const target = resolveTcUrl(current.url, tcUrl)
        yield* Effect.logInfo(`Push ${spec.id}: the remote asked us to reconnect; moving to ${redact(target)} at the next keyframe`)
        const next = yield* publishTo(target)
        const switched = yield* Deferred.make<void>()
        pusher.moveTo(sinkFor(next), () => Deferred.unsafeDone(switched, Exit.void))
        yield* Deferred.await(switched).pipe(
          Effect.timeoutFail({
            duration: settings.timeout,
            onTimeout: () => new RelayError({ reason: "Timeout", message: `${redact(target)}: no keyframe to move on within the relay timeout` })
          }),
          Effect.onError(() => Scope.close(next.scope, Exit.void))
        )
        const old = current
        current = next
        yield* Scope.close(old.scope, Exit.void)
        yield* Effect.logInfo(`Push ${spec.id}: now on ${redact(target)}`)
      })

    // The current connection's statuses, until it closes; `current` changes when we move.
    const watchOnce = Effect.suspend(() => current.connection.nextEvent.pipe(Effect.raceFirst(current.connection.closed))).pipe(
      Effect.flatMap((event) => {
        if (event._tag !== "Status") return Effect.void
        if (event.code === RECONNECT_REQUEST) return reconnect(stringProperty(event.info, "tcUrl"))
        if (event.level === "error") return Effect.fail(new RelayError({ reason: "Rejected", message: `${redact(current.url)}: ${event.code} ${event.description}` }))
        return Effect.void
      })
    )
    return yield* Effect.forever(watchOnce).pipe(Effect.raceFirst(Deferred.await(slow)))
  })
