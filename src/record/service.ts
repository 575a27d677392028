/**
 * `--record DIR`: a recorder for every live stream (or those of `--record-app`), started when it goes
 * live and finished when it ends. Finished files are announced in the log, listed by the API, and POSTed
 * to `--on-record-done` when set. A recording that fails (full disk, unwritable directory) logs one
 * error line and stops; the stream goes on.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import { ServerConfig } from "../core/config.js"
import { followLiveStreams, StreamRegistry, streamKey } from "../core/registry.js"
import { type FinishedRecording, Recorder } from "./recorder.js"

/** Finished recordings remembered for the API; older ones are only in the log. */
const KEPT = 1000

export class RecordService extends Effect.Service<RecordService>()("effect-rtmp/RecordService", {
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const registry = yield* StreamRegistry
    const clock = yield* Effect.clock
    const run = yield* FiberSet.makeRuntime<never>()
    const recorders = new Map<string, Recorder>()
    const finished: Array<FinishedRecording> = []

    const announce = (recording: FinishedRecording) =>
      Effect.gen(function* () {
        finished.push(recording)
        if (finished.length > KEPT) finished.shift()
        yield* Effect.logInfo(`Recorded ${recording.app}/${recording.name}: ${recording.path} (${recording.durationSeconds.toFixed(1)} s, ${recording.bytes} bytes)`)
        if (Option.isNone(config.onRecordDone)) return
        const url = config.onRecordDone.value
        yield* Effect.tryPromise({
          try: (signal) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(recording), signal }),
          catch: (cause) => (cause instanceof Error ? cause.message : String(cause))
        }).pipe(
          Effect.timeout("5 seconds"),
          Effect.catchAll((reason) => Effect.logWarning(`--on-record-done ${url} failed: ${String(reason)}`))
        )
      })

    const start = Effect.fnUntraced(function* (app: string, name: string) {
      if (Option.isNone(config.recordDir)) return
      if (Option.isSome(config.recordApp) && config.recordApp.value !== app) return
      const key = streamKey(app, name)
      if (recorders.has(key)) return
      const stream = yield* registry.lookup(app, name)
      if (stream === undefined || !stream.isLive) return
      const recorder: Recorder = new Recorder(
        stream,
        {
          directory: config.recordDir.value,
          format: config.recordFormat,
          segmentMillis: Duration.toMillis(config.recordSegment),
          maxBytes: config.recordMaxBytes
        },
        {
          started: (path) => run(Effect.logInfo(`Recording ${app}/${name} to ${path}`)),
          finished: (recording) => run(announce(recording)),
          failed: (message) => {
            run(Effect.logError(`Recording of ${app}/${name} stopped: ${message}`))
            run(stop(app, name, recorder))
          }
        },
        () => clock.unsafeCurrentTimeMillis()
      )
      recorders.set(key, recorder)
      recorder.seed()
      yield* registry.play(app, name, recorder, `record:${key}`)
    })

    const stop = (app: string, name: string, only?: Recorder) =>
      Effect.gen(function* () {
        const key = streamKey(app, name)
        const recorder = recorders.get(key)
        if (recorder === undefined || (only !== undefined && recorder !== only)) return
        recorders.delete(key)
        recorder.stop()
        yield* registry.leave(recorder.stream, recorder, `record:${key}`)
      })

    if (Option.isSome(config.recordDir)) {
      yield* followLiveStreams(start, (app, name) => stop(app, name))
      yield* Effect.logInfo(`Recording ${Option.isSome(config.recordApp) ? `app '${config.recordApp.value}'` : "every stream"} to ${config.recordDir.value} (${config.recordFormat})`)
    }
    // On shutdown every open file is completed (its last fragment written) before the process exits.
    yield* Effect.addFinalizer(() => Effect.sync(() => recorders.forEach((r) => r.stop())))

    return {
      /** Finished recordings, oldest first (the last 1,000). */
      finished: Effect.sync((): ReadonlyArray<FinishedRecording> => [...finished])
    } as const
  })
}) {}
