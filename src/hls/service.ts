/**
 * LL-HLS for every live stream: a packager starts when a stream goes live (seeded from its GOP cache, so
 * the first playlist does not wait a GOP) and stops when it ends. Media sequence numbers continue across
 * a republish, with a new init segment and a new per-publish URI prefix, and the discontinuity sequence
 * counts the publishing sessions, so players recover by themselves.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { ServerConfig } from "../core/config.js"
import { followLiveStreams, StreamRegistry, streamKey } from "../core/registry.js"
import { HlsPackager } from "./packager.js"

export class HlsService extends Effect.Service<HlsService>()("effect-rtmp/HlsService", {
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const registry = yield* StreamRegistry
    const clock = yield* Effect.clock
    const packagers = new Map<string, HlsPackager>()
    /** Per stream: the next media sequence number and discontinuity sequence, so a republish continues them. */
    const sequences = new Map<string, { msn: number; discontinuity: number }>()

    const start = Effect.fnUntraced(function* (app: string, name: string) {
      const key = streamKey(app, name)
      if (packagers.has(key)) return
      const stream = yield* registry.lookup(app, name)
      if (stream === undefined || !stream.isLive) return
      const previous = sequences.get(key)
      const packager = new HlsPackager(
        stream,
        {
          partDuration: Duration.toSeconds(config.hlsPartDuration),
          minSegmentDuration: Duration.toSeconds(config.hlsSegmentDuration),
          segmentCount: config.hlsSegmentCount,
          firstMsn: previous?.msn ?? 0,
          discontinuitySequence: previous === undefined ? 0 : previous.discontinuity + 1,
          now: () => clock.unsafeCurrentTimeMillis()
        },
        () => stream.announcedSize()
      )
      packager.seed()
      yield* registry.play(app, name, packager, `hls:${key}`)
      packagers.set(key, packager)
      yield* Effect.logDebug(`LL-HLS packaging ${app}/${name}`)
    })

    const stop = Effect.fnUntraced(function* (app: string, name: string) {
      const key = streamKey(app, name)
      const packager = packagers.get(key)
      if (packager === undefined) return
      packagers.delete(key)
      packager.stop()
      sequences.set(key, { msn: packager.edge().msn + 1, discontinuity: packager.lastDiscontinuitySequence() })
      yield* registry.leave(packager.stream, packager, `hls:${key}`)
    })

    yield* followLiveStreams(start, stop)
    // Blocked requests answer 503 after three target durations: one sweep for every packager's waiters.
    yield* Effect.sync(() => packagers.forEach((packager) => packager.expireWaiters())).pipe(Effect.repeat(Schedule.spaced("250 millis")), Effect.forkScoped)
    yield* Effect.addFinalizer(() => Effect.sync(() => packagers.forEach((p) => p.stop())))

    return {
      /** The packager of a live stream, if it is being packaged. */
      packager: (app: string, name: string): Option.Option<HlsPackager> => Option.fromNullable(packagers.get(streamKey(app, name)))
    } as const
  })
}) {}
