/**
 * The stream registry: which streams exist (keyed by app and name), who publishes them, who plays them.
 * Membership lives in a `Ref`; lifecycle events go out on a `PubSub` that relays and embedders subscribe
 * to. The streams themselves are plain objects (see `stream.ts`) so the media path never enters Effect.
 * Each check-then-act below runs synchronously after reading the Ref, so no other fiber interleaves.
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { ServerConfig } from "./config.js"
import { LiveStream, type PublisherInfo, type StreamSubscriber } from "../media/stream.js"

export type StreamEvent = Data.TaggedEnum<{
  Published: { readonly app: string; readonly name: string; readonly connectionId: string }
  Unpublished: { readonly app: string; readonly name: string; readonly connectionId: string }
  PlayerJoined: { readonly app: string; readonly name: string; readonly connectionId: string }
  PlayerLeft: { readonly app: string; readonly name: string; readonly connectionId: string }
}>
export const StreamEvent = Data.taggedEnum<StreamEvent>()

export class StreamBusy extends Data.TaggedError("StreamBusy")<{
  readonly app: string
  readonly name: string
  readonly publisher: string
}> {}

export interface StreamInfo {
  readonly app: string
  readonly name: string
  readonly live: boolean
  readonly publisher: string | undefined
  readonly players: number
  readonly framesIn: number
  readonly bytesIn: number
}

/** Events kept for a subscriber that falls behind; older ones are dropped rather than block publishers. */
const EVENT_BUFFER = 4096

const streamsGauge = Metric.gauge("rtmp_streams")
const publishersGauge = Metric.gauge("rtmp_publishers")
const playersGauge = Metric.gauge("rtmp_players")

/**
 * The registry key of (app, name). Both may contain '/', so joining them with one would alias app `live`
 * + name `sub/x` with app `live/sub` + name `x`; the app's length makes the pair unambiguous.
 */
export const streamKey = (app: string, name: string) => `${app.length}:${app}/${name}`

export class StreamRegistry extends Effect.Service<StreamRegistry>()("effect-rtmp/StreamRegistry", {
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const streams = yield* Ref.make(new Map<string, LiveStream>())
    const events = yield* Effect.acquireRelease(PubSub.sliding<StreamEvent>(EVENT_BUFFER), PubSub.shutdown)
    const gopLimits = { enabled: config.gopCache, maxFrames: config.gopCacheMaxFrames, maxBytes: config.gopCacheMaxBytes }
    // The stream core is plain code; it reads this fiber's Clock, so the TestClock drives takeovers.
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()

    const updateGauges = Effect.fnUntraced(function* (map: Map<string, LiveStream>) {
      let publishers = 0
      let players = 0
      for (const stream of map.values()) {
        if (stream.isLive) publishers++
        players += stream.players.size
      }
      yield* Metric.set(streamsGauge, map.size)
      yield* Metric.set(publishersGauge, publishers)
      yield* Metric.set(playersGauge, players)
    })

    /** Gets or creates the stream entry (a play may come before the publish). */
    const entry = (map: Map<string, LiveStream>, app: string, name: string): LiveStream => {
      const key = streamKey(app, name)
      let stream = map.get(key)
      if (stream === undefined) {
        stream = new LiveStream(app, name, gopLimits, now)
        map.set(key, stream)
      }
      return stream
    }

    /** Drops entries with neither publisher nor players, so the map does not grow forever. */
    const prune = (map: Map<string, LiveStream>, stream: LiveStream): void => {
      if (!stream.isLive && stream.players.size === 0 && map.get(streamKey(stream.app, stream.name)) === stream) {
        map.delete(streamKey(stream.app, stream.name))
      }
    }

    const publish = Effect.fn("StreamRegistry.publish")(function* (app: string, name: string, publisher: PublisherInfo) {
      const map = yield* Ref.get(streams)
      const stream = entry(map, app, name)
      const current = stream.publisher
      if (current !== undefined) {
        const silentFor = now() - stream.lastMediaAt
        const sameCredential = current.credential !== undefined && current.credential === publisher.credential
        const moving = stream.publisherMoving
        if (moving && !sameCredential && silentFor < Duration.toMillis(config.publisherTakeoverGrace)) {
          // A reconnect we asked for: the new connection takes over with its first frame (see LiveStream.incoming).
          stream.incoming = publisher
          yield* Effect.logInfo(`${app}/${name}: ${publisher.connectionId} will take over from ${current.connectionId} with its first frame (reconnect)`)
          return stream
        }
        if (!sameCredential && silentFor < Duration.toMillis(config.publisherTakeoverGrace)) {
          return yield* new StreamBusy({ app, name, publisher: current.connectionId })
        }
        // An encoder reconnecting: the old connection went quiet, or the new one proved the same credential.
        const why = moving ? "the publisher was asked to reconnect" : sameCredential ? "the same credential" : `${silentFor} ms without media`
        stream.takeOver(publisher)
        current.kick?.(`taken over by ${publisher.connectionId} (${why})`)
        yield* Effect.logInfo(`${app}/${name}: ${publisher.connectionId} took over from ${current.connectionId} (${why})`)
        yield* PubSub.publish(events, StreamEvent.Published({ app, name, connectionId: publisher.connectionId }))
        return stream
      }
      stream.startPublishing(publisher)
      yield* updateGauges(map)
      yield* PubSub.publish(events, StreamEvent.Published({ app, name, connectionId: publisher.connectionId }))
      return stream
    })

    const unpublish = Effect.fn("StreamRegistry.unpublish")(function* (stream: LiveStream, publisher: PublisherInfo) {
      if (stream.incoming === publisher) stream.incoming = undefined
      if (stream.publisher !== publisher) return
      const map = yield* Ref.get(streams)
      stream.stopPublishing()
      prune(map, stream)
      yield* updateGauges(map)
      yield* PubSub.publish(
        events,
        StreamEvent.Unpublished({ app: stream.app, name: stream.name, connectionId: publisher.connectionId })
      )
    })

    const play = Effect.fn("StreamRegistry.play")(function* (
      app: string,
      name: string,
      player: StreamSubscriber,
      connectionId: string
    ) {
      const map = yield* Ref.get(streams)
      const stream = entry(map, app, name)
      stream.players.add(player)
      yield* updateGauges(map)
      yield* PubSub.publish(events, StreamEvent.PlayerJoined({ app, name, connectionId }))
      return stream
    })

    const leave = Effect.fn("StreamRegistry.leave")(function* (
      stream: LiveStream,
      player: StreamSubscriber,
      connectionId: string
    ) {
      if (!stream.players.delete(player)) return
      const map = yield* Ref.get(streams)
      prune(map, stream)
      yield* updateGauges(map)
      yield* PubSub.publish(events, StreamEvent.PlayerLeft({ app: stream.app, name: stream.name, connectionId }))
    })

    const lookup = (app: string, name: string): Effect.Effect<LiveStream | undefined> =>
      Ref.get(streams).pipe(Effect.map((map) => map.get(streamKey(app, name))))

    const list: Effect.Effect<ReadonlyArray<StreamInfo>> = Ref.get(streams).pipe(
      Effect.map((map) =>
        [...map.values()].map((s) => ({
          app: s.app,
          name: s.name,
          live: s.isLive,
          publisher: s.publisher?.connectionId,
          players: s.players.size,
          framesIn: s.framesIn,
          bytesIn: s.bytesIn
        }))
      )
    )

    /** A subscription to lifecycle events, for as long as the caller's scope lives. */
    const subscribe: Effect.Effect<Queue.Dequeue<StreamEvent>, never, Scope.Scope> = PubSub.subscribe(events)

    /** The streams themselves, for the API and metrics (read their fields; do not publish through them). */
    const streamsNow: Effect.Effect<ReadonlyArray<LiveStream>> = Ref.get(streams).pipe(Effect.map((map) => [...map.values()]))

    return { publish, unpublish, play, leave, lookup, list, streams: streamsNow, subscribe } as const
  })
}) {}

/**
 * Runs `started` whenever a stream goes live (or is taken over) and `ended` whenever it stops, for as long
 * as the caller's scope lives: how per-stream outputs (LL-HLS packagers, recorders) follow the registry.
 */
export const followLiveStreams = <R>(
  started: (app: string, name: string) => Effect.Effect<void, never, R>,
  ended: (app: string, name: string) => Effect.Effect<void, never, R>
) =>
  Effect.gen(function* () {
    const registry = yield* StreamRegistry
    const events = yield* registry.subscribe
    yield* Queue.take(events).pipe(
      Effect.flatMap(
        (event): Effect.Effect<void, never, R> =>
          event._tag === "Published" ? started(event.app, event.name) : event._tag === "Unpublished" ? ended(event.app, event.name) : Effect.void
      ),
      Effect.forever,
      Effect.forkScoped
    )
  })
