/**
 * Pull relay: plays a remote stream and publishes it locally as `app/name`, exactly like a local encoder
 * (metadata, sequence headers, GOP cache for late joiners; it can be pushed on). The local stream goes
 * live with the first media and is unpublished when the attempt ends: the remote ended the stream,
 * dropped or refused the connection, or sent no media for the idle timeout.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { type AmfValue, AmfObject, encodeAll } from "../protocol/amf0.js"
import type { RtmpMessage } from "../protocol/chunk-reader.js"
import { Access } from "../core/access.js"
import type { LiveStream, PublisherInfo } from "../media/stream.js"
import type { ViewerLimits } from "../media/viewer.js"
import { clientCapabilities } from "../rtmp/capabilities.js"
import { createStream, openClient, type RelayTls } from "./client.js"
import { type AttemptControl, RelayError } from "./supervisor.js"
import { redact, type RtmpUrl } from "./url.js"

export interface PullSpec {
  readonly id: string
  readonly remote: RtmpUrl
  readonly app: string
  readonly name: string
  /** A cluster edge's pull of a stream node `origin` owns: published locally without a claim. */
  readonly origin?: string
}

export interface RelaySettings {
  /** Bound on connecting, the handshake and each reply. */
  readonly timeout: Duration.Duration
  /** A pull that receives no media this long ends (and is retried). */
  readonly idleTimeout: Duration.Duration
  /** Media flowing this long makes a connection "healthy": its failure restarts the backoff from the base. */
  readonly healthyAfter: Duration.Duration
  readonly chunkSize: number
  /** The slow-consumer policy for a push target: skip to the next keyframe, then reconnect. */
  readonly viewerLimits: ViewerLimits
  /** How `rtmps://` remotes are trusted. */
  readonly tls: RelayTls
  /** Bytes of our answers the remote may leave unread before the connection is ended (a push's media has its viewer's limits). */
  readonly maxUnreadBytes: number
}

/** Media held while the local stream goes live (a few frames at most); beyond this, frames are dropped. */
const MAX_EARLY_MESSAGES = 1000

/** Status codes after which the remote stream is over for this connection. */
const END_CODES = new Set([
  "NetStream.Play.UnpublishNotify",
  "NetStream.Play.Complete",
  "NetStream.Play.Stop",
  "NetStream.Play.StreamNotFound",
  "NetStream.Play.Failed"
])

/** Data messages a server sends to players about the session, not part of the stream. */
const isSessionData = (name: AmfValue) => name === "|RtmpSampleAccess" || name === "onStatus"

export const pullAttempt = (spec: PullSpec, settings: RelaySettings) => (control: AttemptControl) =>
  Effect.gen(function* () {
    const access = yield* Access
    const remote = redact(spec.remote)
    let local: LiveStream | undefined
    let early: Array<RtmpMessage> = []
    let earlyMetadata: AmfValue | undefined
    let mediaCount = 0
    const firstMedia = yield* Deferred.make<void>()

    const connection = yield* openClient(spec.remote, {
      timeout: settings.timeout,
      chunkSize: settings.chunkSize,
      tls: settings.tls,
      maxUnreadBytes: settings.maxUnreadBytes,
      // As a player we take every codec and track, to forward them as they come.
      connectProperties: clientCapabilities(),
      onMedia: (message) => {
        mediaCount++
        if (local !== undefined) return local.publishMedia(message.typeId, message.timestamp, message.payload)
        if (early.length < MAX_EARLY_MESSAGES) early.push(message)
        Deferred.unsafeDone(firstMedia, Exit.void)
      },
      onData: (_streamId, values, timestamp) => {
        const [first, second] = values
        const [name, value] = first === "@setDataFrame" ? [second, values[2]] : [first, second]
        if (name === "onMetaData" && value instanceof AmfObject) {
          if (local !== undefined) local.setMetadata(value)
          else earlyMetadata = value
        } else if (local !== undefined && !isSessionData(name)) {
          local.publishData(encodeAll(values), timestamp)
        }
      }
    })

    const streamId = yield* createStream(connection)
    connection.session.play(streamId, spec.remote.stream)
    yield* connection.awaitEvent("play reply", (event) => {
      if (event._tag !== "Status") return undefined
      if (event.code === "NetStream.Play.Start" || event.code === "NetStream.Play.Reset") return Effect.void
      if (END_CODES.has(event.code) || event.level === "error") {
        const reason = event.code.endsWith("StreamNotFound") ? "StreamNotFound" : "Rejected"
        return Effect.fail(new RelayError({ reason, message: `${remote}: ${event.code} ${event.description}` }))
      }
      return undefined
    }).pipe(Effect.flatten)

    const goLive = Effect.gen(function* () {
      yield* Deferred.await(firstMedia)
      const publisher: PublisherInfo = { connectionId: spec.id, origin: spec.origin }
      const { stream } = yield* access.publishTrusted(spec.app, spec.name, publisher, { claim: spec.origin === undefined }).pipe(
        Effect.mapError(
          (busy) => new RelayError({ reason: "LocalBusy", message: `${spec.app}/${spec.name} is already published by ${busy.publisher}` })
        )
      )
      if (earlyMetadata !== undefined) stream.setMetadata(earlyMetadata)
      for (const message of early) stream.publishMedia(message.typeId, message.timestamp, message.payload)
      early = []
      local = stream
      yield* control.markLive
      yield* Effect.sleep(settings.healthyAfter).pipe(Effect.zipRight(control.markHealthy), Effect.forkScoped)
      return yield* Effect.never
    })

    const watchStatuses = connection.nextEvent.pipe(
      Effect.flatMap((event) => {
        if (event._tag === "Status" && END_CODES.has(event.code)) {
          return Effect.fail(new RelayError({ reason: "Ended", message: `${remote}: ${event.code}` }))
        }
        if (event._tag === "UserControl" && event.control.event === 1 && local !== undefined) {
          return Effect.fail(new RelayError({ reason: "Ended", message: `${remote}: end of stream` }))
        }
        return Effect.void
      }),
      Effect.forever
    )

    const watchIdle = Effect.gen(function* () {
      for (;;) {
        const seen = mediaCount
        yield* Effect.sleep(settings.idleTimeout)
        if (mediaCount === seen) {
          return yield* new RelayError({ reason: "Idle", message: `${remote}: no media for ${Duration.format(settings.idleTimeout)}` })
        }
      }
    })

    // The first to finish (they only ever fail) ends the attempt and interrupts the others.
    return yield* goLive.pipe(Effect.raceFirst(watchStatuses), Effect.raceFirst(watchIdle), Effect.raceFirst(connection.closed))
  })
