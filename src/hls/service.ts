/**
 * LL-HLS for every live stream: a packager starts when the stream goes live and stops when it ends; a
 * request that comes before the first playlist exists is held until it does. With `--hls-on-demand` (an
 * ingest server whose streams are seldom watched over HLS, which then pays neither the muxing nor seven
 * segments of memory each) it starts with the first playlist request instead, seeded from the GOP cache
 * with a first segment that ends at the next keyframe (the request waits at most a GOP), and stops after
 * `--hls-idle-timeout` without a request.
 * Media sequence numbers continue across a republish (or a restart after idling), with a new init segment
 * and a new per-publish URI prefix, and the discontinuity sequence counts on, so players recover by themselves.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import { ServerConfig } from "../core/config.js"
import { idleSweep } from "../core/periodic.js"
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

    const run = yield* FiberSet.makeRuntime<never>()
    const idleMillis = Duration.toMillis(config.hlsIdleTimeout)
    /** Requests waiting for an on-demand start, by stream. */
    const starting = new Map<string, Array<(packager: HlsPackager | undefined) => void>>()

    const start = Effect.fnUntraced(function* (app: string, name: string, onDemand: boolean) {
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
          now: () => clock.unsafeCurrentTimeMillis(),
          quickStart: onDemand,
          keyframeInterval: () => stream.keyframeInterval
        },
        () => stream.announcedSize()
      )
      packager.seed()
      packager.lastRequestAt = clock.unsafeCurrentTimeMillis()
      yield* registry.play(app, name, packager, `hls:${key}`)
      packagers.set(key, packager)
      sweeps.wake()
      yield* Effect.logDebug(`LL-HLS packaging ${app}/${name}${onDemand ? " (requested)" : ""}`)
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

    // One sweep: blocked requests answer 503 after three target durations; an on-demand packager nobody
    // asked anything for --hls-idle-timeout stops (its memory goes; the next request starts it again).
    const sweep = Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      const idle: Array<HlsPackager> = []
      for (const packager of packagers.values()) {
        packager.expireWaiters()
        // A request still waiting (for the first playlist, or a blocking reload) keeps it in use.
        if (packager.hasWaiters) packager.lastRequestAt = now
        else if (config.hlsOnDemand && now - packager.lastRequestAt > idleMillis) idle.push(packager)
      }
      if (idle.length === 0) return Effect.void
      return Effect.forEach(
        idle,
        (packager) =>
          stop(packager.stream.app, packager.stream.name).pipe(
            Effect.zipRight(Effect.logDebug(`LL-HLS packaging of ${packager.stream.key} stopped: no request for ${idleMillis / 1000} s`))
          ),
        { discard: true }
      )
    })
    // Without packagers (LL-HLS is on demand by default) it sleeps until one starts.
    const sweeps = yield* idleSweep(250, () => packagers.size > 0, sweep)
    yield* Effect.forkScoped(sweeps.run)
    // After the sweep exists: a stream already live is packaged at once (`start` wakes the sweep).
    yield* followLiveStreams((app, name) => (config.hlsOnDemand ? Effect.void : start(app, name, false)), stop)
    yield* Effect.addFinalizer(() => Effect.sync(() => packagers.forEach((p) => p.stop())))

    /** Hands over `packager` once it can serve a playlist (a request that came first waits up to three segments' time). */
    const whenReady = (packager: HlsPackager, then: (packager: HlsPackager | undefined) => void): void => {
      const interval = packager.stream.keyframeInterval ?? 0
      const wait = 3 * Math.max(Duration.toMillis(config.hlsSegmentDuration), interval)
      packager.whenReady((ready) => then(ready ? packager : undefined), wait)
    }

    /**
     * The packager an HLS request is for: `then` gets it once it can serve a playlist — at once when it can
     * already, after starting it for this request with `--hls-on-demand` — or undefined when the stream is not live.
     */
    const request = (app: string, name: string, then: (packager: HlsPackager | undefined) => void): void => {
      const key = streamKey(app, name)
      const current = packagers.get(key)
      if (current !== undefined) {
        current.lastRequestAt = clock.unsafeCurrentTimeMillis()
        return whenReady(current, then)
      }
      if (!config.hlsOnDemand) return then(undefined)
      const waiting = starting.get(key)
      if (waiting !== undefined) return void waiting.push(then)
      starting.set(key, [then])
      run(
        start(app, name, true).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              const waiters = starting.get(key) ?? []
              starting.delete(key)
              const packager = packagers.get(key)
              for (const waiter of waiters) packager === undefined ? waiter(undefined) : whenReady(packager, waiter)
            })
          )
        )
      )
    }

    return {
      request,
      /** The packager of a stream, if it is being packaged. */
      packager: (app: string, name: string): Option.Option<HlsPackager> => Option.fromNullable(packagers.get(streamKey(app, name)))
    } as const
  })
}) {}
