/**
 * Push relay: republishes a live local stream to a remote server. It behaves as a player of the local
 * stream in "publish" mode: metadata and sequence headers first, then media from a keyframe (the GOP
 * cache when there is one), with its own bounded queue — a slow or dead remote skips to the next
 * keyframe or is reconnected, and never slows the local publisher or its players. When the attempt
 * ends it unpublishes from the remote (FCUnpublish, deleteStream) while the connection still stands.
 */
import { Deferred, Effect, Exit } from "effect"
import { Access } from "../core/access.js"
import { StreamRegistry } from "../core/registry.js"
import { TrackFilter } from "../media/tracks.js"
import { Viewer } from "../media/viewer.js"
import { RtmpPublishSink } from "../rtmp/sinks.js"
import { inBatch } from "../transport/write-batch.js"
import { createStream, openClient } from "./client.js"
import type { RelaySettings } from "./pull.js"
import { type AttemptControl, RelayError } from "./supervisor.js"
import { redact, type RtmpUrl } from "./url.js"

export interface PushSpec {
  readonly id: string
  readonly app: string
  readonly name: string
  readonly remote: RtmpUrl
}

export const pushAttempt = (spec: PushSpec, settings: RelaySettings) => (control: AttemptControl) =>
  Effect.gen(function* () {
    const registry = yield* StreamRegistry
    const access = yield* Access
    const remote = redact(spec.remote)
    const source = yield* registry.lookup(spec.app, spec.name)
    if (source === undefined || !source.isLive) {
      return yield* new RelayError({ reason: "Ended", message: `${spec.app}/${spec.name} is not live` })
    }
    const connection = yield* openClient(spec.remote, {
      timeout: settings.timeout,
      chunkSize: settings.chunkSize,
      tls: settings.tls,
      onMedia: () => {},
      onData: () => {}
    })
    const streamId = yield* createStream(connection)
    connection.session.publish(streamId, spec.remote.stream)
    yield* connection.awaitEvent("publish reply", (event) => {
      if (event._tag !== "Status") return undefined
      if (event.code === "NetStream.Publish.Start") return Effect.void
      if (event.level === "error") {
        return Effect.fail(new RelayError({ reason: "Rejected", message: `${remote}: ${event.code} ${event.description}` }))
      }
      return undefined
    }).pipe(Effect.flatten)

    const slow = yield* Deferred.make<never, RelayError>()
    const clock = yield* Effect.clock
    const sink = new RtmpPublishSink(streamId, settings.chunkSize, {
      write: connection.write,
      queuedBytes: () => connection.socket.writableLength,
      disconnect: (reason) => Deferred.unsafeDone(slow, Exit.fail(new RelayError({ reason: "SlowRemote", message: `${remote}: ${reason}` })))
    })
    const pusher = new Viewer(sink, settings.viewerLimits, () => clock.unsafeCurrentTimeMillis())
    // `#codecs=h264,aac`: a destination that takes only these (a Twitch-like target never gets HEVC).
    if (spec.remote.codecs !== undefined) pusher.filter = TrackFilter.only(spec.remote.codecs, true)
    const stream = yield* access.playTrusted(spec.app, spec.name, pusher, spec.id)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        pusher.stop()
        if (!connection.socket.destroyed) connection.session.unpublish(streamId, spec.remote.stream)
      })
    )
    inBatch(() => pusher.start(stream))
    yield* control.markLive
    yield* Effect.sleep(settings.healthyAfter).pipe(Effect.zipRight(control.markHealthy), Effect.forkScoped)

    const watchStatuses = connection.nextEvent.pipe(
      Effect.flatMap((event) =>
        event._tag === "Status" && event.level === "error"
          ? Effect.fail(new RelayError({ reason: "Rejected", message: `${remote}: ${event.code} ${event.description}` }))
          : Effect.void
      ),
      Effect.forever
    )
    return yield* watchStatuses.pipe(Effect.raceFirst(Deferred.await(slow)), Effect.raceFirst(connection.closed))
  })
