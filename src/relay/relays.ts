/**
 * All configured relays, supervised in one `FiberMap` keyed by relay id. Pulls run from start-up;
 * pushes start when their source goes live (a local encoder or a pull) and stop when it unpublishes,
 * driven by the registry's lifecycle events.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Schedule from "effect/Schedule"
import { Directory } from "../cluster/directory.js"
import { leased } from "../cluster/leases.js"
import { ServerConfig, unreadBytesLimit, viewerLimits } from "../core/config.js"
import { StreamRegistry } from "../core/registry.js"
import { defaultRelayTls, type RelayTls } from "./client.js"
import { RelayHealth, RelayStatus } from "./health.js"
import { pullAttempt, type PullSpec, type RelaySettings } from "./pull.js"
import { pushAttempt, type PushSpec } from "./push.js"
import { defaultRetryPolicy, type RelayError, retryPolicy, superviseRelay } from "./supervisor.js"
import { redact, type RtmpUrl } from "./url.js"

export interface RelayConfig {
  readonly pulls: ReadonlyArray<{ readonly remote: RtmpUrl; readonly app: string; readonly name: string }>
  readonly pushes: ReadonlyArray<{ readonly app: string; readonly name: string; readonly remote: RtmpUrl }>
  readonly policy: Schedule.Schedule<unknown, RelayError>
  readonly timeout: Duration.Duration
  readonly idleTimeout: Duration.Duration
  readonly healthyAfter: Duration.Duration
  /** How `rtmps://` remotes are trusted. */
  readonly tls: RelayTls
}

export const defaultRelayConfig: RelayConfig = {
  pulls: [],
  pushes: [],
  policy: retryPolicy(defaultRetryPolicy),
  timeout: Duration.seconds(10),
  idleTimeout: Duration.seconds(10),
  healthyAfter: Duration.seconds(10),
  tls: defaultRelayTls
}

export const pullId = (remote: RtmpUrl, app: string, name: string) => `pull ${redact(remote)} → ${app}/${name}`
export const pushId = (app: string, name: string, remote: RtmpUrl) => `push ${app}/${name} → ${redact(remote)}`

const runRelays = (config: RelayConfig) =>
  Effect.gen(function* () {
    const registry = yield* StreamRegistry
    const health = yield* RelayHealth
    const server = yield* ServerConfig
    const fibers = yield* FiberMap.make<string>()
    const directory = yield* Effect.serviceOption(Directory)
    const settings: RelaySettings = {
      timeout: config.timeout,
      idleTimeout: config.idleTimeout,
      healthyAfter: config.healthyAfter,
      chunkSize: server.chunkSize,
      viewerLimits: viewerLimits(server),
      tls: config.tls,
      maxUnreadBytes: unreadBytesLimit(server)
    }

    for (const pull of config.pulls) {
      const spec: PullSpec = { id: pullId(pull.remote, pull.app, pull.name), ...pull }
      yield* Effect.logInfo(`Pulling ${redact(pull.remote)} into ${pull.app}/${pull.name}`)
      const relay = superviseRelay({ id: spec.id, remote: redact(spec.remote), policy: config.policy, attempt: pullAttempt(spec, settings) })
      // In a cluster, a pull configured on several nodes runs on the one holding its lease.
      yield* FiberMap.run(fibers, spec.id, Option.isSome(directory) ? leased(directory.value, spec.id, relay) : relay)
    }

    const pushes: Array<PushSpec> = config.pushes.map((push) => ({ id: pushId(push.app, push.name, push.remote), ...push }))
    const startPush = (spec: PushSpec) =>
      FiberMap.run(
        fibers,
        spec.id,
        superviseRelay({ id: spec.id, remote: redact(spec.remote), policy: config.policy, attempt: pushAttempt(spec, settings) }),
        { onlyIfMissing: true }
      ).pipe(Effect.asVoid)
    const stopPush = (spec: PushSpec) =>
      FiberMap.remove(fibers, spec.id).pipe(
        Effect.zipRight(health.set(spec.id, redact(spec.remote), RelayStatus.Waiting({ reason: `${spec.app}/${spec.name} is not live` })))
      )

    // Subscribe before looking at the current state, so no publish slips between the two.
    const events = yield* registry.subscribe
    for (const spec of pushes) {
      yield* Effect.logInfo(`Pushing ${spec.app}/${spec.name} to ${redact(spec.remote)} whenever it is live`)
      const source = yield* registry.lookup(spec.app, spec.name)
      if (source?.isLive && source.publisher?.origin === undefined) yield* startPush(spec)
      else yield* health.set(spec.id, redact(spec.remote), RelayStatus.Waiting({ reason: `${spec.app}/${spec.name} is not live` }))
    }
    if (pushes.length > 0) {
      yield* Queue.take(events).pipe(
        Effect.flatMap((event) => {
          if (event._tag !== "Published" && event._tag !== "Unpublished") return Effect.void
          const matching = pushes.filter((p) => p.app === event.app && p.name === event.name)
          if (event._tag === "Unpublished") return Effect.forEach(matching, stopPush, { discard: true })
          // A cluster edge's copy is not pushed: the node that ingests the stream pushes it, once.
          return registry.lookup(event.app, event.name).pipe(
            Effect.flatMap((stream) => (stream?.publisher?.origin === undefined ? Effect.forEach(matching, startPush, { discard: true }) : Effect.void))
          )
        }),
        Effect.forever,
        Effect.forkScoped
      )
    }
  })

/** The relays as a Layer over the server's registry. Needs `StreamRegistry` and `ServerConfig`. */
export const RelaysLive = (config: RelayConfig) =>
  Layer.scopedDiscard(runRelays(config)).pipe(Layer.provideMerge(RelayHealth.Default))

/** One line per relay for the start-up log, stream keys redacted. */
export const describeRelays = (config: RelayConfig): Array<string> => [
  ...config.pulls.map((p) => `pull ${redact(p.remote)} → ${p.app}/${p.name}`),
  ...config.pushes.map((p) => `push ${p.app}/${p.name} → ${redact(p.remote)}`)
]
