/**
 * Every node an origin for what it ingests and an edge for the rest. Installs the cluster's placement
 * policy into the stream core:
 * - a local publish claims the stream in the directory (refused while another live node owns it);
 * - a play (RTMP, HTTP-FLV, WS-FLV) or LL-HLS request for a stream that is not live here starts **one**
 *   pull from its owner for all local viewers (a copy: primed by the owner's GOP cache, not claimed, not
 *   pushed on), marked with a hop parameter so an origin never pulls on behalf of another edge;
 * - the pull follows the stream: each attempt looks the owner up again (the usual backoff in between),
 *   so when the owner dies it continues from the node the publisher moved to — never round-robin;
 * - it is kept `--cluster-close-after` after the last viewer left; a play in that window reuses it.
 * Redis away: plays of streams that are not local are refused at once with a clear reason.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import { Access } from "../core/access.js"
import { AuthDenied } from "../core/auth.js"
import { ServerConfig, unreadBytesLimit, viewerLimits } from "../core/config.js"
import { StreamPlacement } from "../core/placement.js"
import { StreamBusy, StreamRegistry } from "../core/registry.js"
import type { LiveStream } from "../media/stream.js"
import { Viewer } from "../media/viewer.js"
import { defaultRelayTls } from "../relay/client.js"
import { RelayHealth } from "../relay/health.js"
import { pullAttempt, type RelaySettings } from "../relay/pull.js"
import { RelayError, retryPolicy, superviseRelay } from "../relay/supervisor.js"
import { parseRtmpUrl } from "../relay/url.js"
import { Directory } from "./directory.js"

/** The query parameter that marks a pull between nodes. */
export const HOP_PARAMETER = "ertmp_hop"

const hasHop = (query: string) => new URLSearchParams(query).has(HOP_PARAMETER)

/** Viewers that keep an edge pull alive: players and HTTP/WS viewers (not push relays, packagers or recorders). */
const viewersOf = (stream: LiveStream | undefined): number => {
  let count = 0
  if (stream !== undefined) for (const player of stream.players) if (player instanceof Viewer && player.sink.protocol !== "push") count++
  return count
}

export const EdgeLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const directory = yield* Directory
    const placement = yield* StreamPlacement
    const registry = yield* StreamRegistry
    const config = yield* ServerConfig
    const pulls = yield* FiberMap.make<string>()
    const lastUse = new Map<string, number>()
    const closeAfter = Duration.toMillis(config.clusterCloseAfter)
    const settings: RelaySettings = {
      timeout: Duration.seconds(5),
      idleTimeout: Duration.seconds(10),
      healthyAfter: Duration.seconds(10),
      chunkSize: config.chunkSize,
      viewerLimits: viewerLimits(config),
      tls: defaultRelayTls,
      maxUnreadBytes: unreadBytesLimit(config)
    }
    const policy = retryPolicy({ base: "300 millis", max: "3 seconds", maxAttempts: 0, jitter: true })
    const runtime = yield* Effect.runtime<never>()
    const clock = yield* Effect.clock
    const services = yield* Effect.context<RelayHealth | Access>()

    /** One attempt: find the owner now, pull from it as a copy. */
    const attempt = (app: string, name: string, id: string) => (control: Parameters<Parameters<typeof superviseRelay>[0]["attempt"]>[0]) =>
      Effect.gen(function* () {
        const owner = yield* directory.owner(app, name).pipe(Effect.mapError((e) => new RelayError({ reason: "Connect", message: e.message })))
        if (owner === undefined || owner.id === directory.self.id) {
          return yield* new RelayError({ reason: "StreamNotFound", message: `no live node ingests ${app}/${name}` })
        }
        const remote = parseRtmpUrl(`${owner.advertise}/${app}/${name}?${HOP_PARAMETER}=1`)
        return yield* pullAttempt({ id, remote, app, name, origin: owner.id }, settings)(control)
      })

    /** Stops the pull once nobody has used the stream for `closeAfter`. */
    const closeWhenUnused = (key: string, app: string, name: string) =>
      Effect.gen(function* () {
        let idleSince = 0
        for (;;) {
          yield* Effect.sleep(Duration.millis(Math.min(1000, Math.max(100, closeAfter / 4))))
          const now = yield* Clock.currentTimeMillis
          const stream = yield* registry.lookup(app, name)
          const used = viewersOf(stream) > 0 || now - (lastUse.get(key) ?? 0) < closeAfter
          if (used) idleSince = 0
          else if (idleSince === 0) idleSince = now
          else if (now - idleSince >= closeAfter) {
            yield* Effect.logInfo(`Cluster: no viewers of ${app}/${name} for ${Duration.format(config.clusterCloseAfter)}: closing the upstream`)
            lastUse.delete(key)
            return
          }
        }
      })

    const ensurePull = (app: string, name: string) =>
      Effect.gen(function* () {
        const key = `${app}/${name}`
        lastUse.set(key, yield* Clock.currentTimeMillis)
        if (yield* FiberMap.has(pulls, key)) return
        const id = `edge ${key}`
        yield* Effect.logInfo(`Cluster: ${key} is not ingested here; pulling it from its owner`)
        const relay = superviseRelay({ id, remote: "cluster owner", policy, attempt: attempt(app, name, id) })
        yield* FiberMap.run(pulls, key, relay.pipe(Effect.raceFirst(closeWhenUnused(key, app, name)), Effect.provide(services)), { onlyIfMissing: true })
      })

    const remotePlay = (app: string, name: string, query: string): Effect.Effect<void, AuthDenied> =>
      Effect.gen(function* () {
        if (hasHop(query)) return // a pull from another node: served from a local publisher only
        if (directory.state() === "Degraded") {
          return yield* new AuthDenied({ reason: `${app}/${name} is not live on this node and the cluster directory (Redis) is unavailable` })
        }
        if (yield* FiberMap.has(pulls, `${app}/${name}`)) return yield* ensurePull(app, name)
        const owner = yield* directory.owner(app, name).pipe(
          Effect.mapError((e) => new AuthDenied({ reason: `${app}/${name} is not live on this node and the cluster directory failed: ${e.message}` }))
        )
        if (owner === undefined || owner.id === directory.self.id) return // not live anywhere yet: wait here, as a single node does
        yield* ensurePull(app, name)
      })

    yield* placement.install({
      claim: (app, name, connectionId, credential) =>
        Effect.gen(function* () {
          // Another node won the claim later (same credential, or Redis came back with its claim): our publisher goes.
          const lost = (owner: string) =>
            Runtime.runFork(runtime)(
              registry.lookup(app, name).pipe(Effect.map((stream) => stream?.publisher?.kick?.(`${app}/${name} is now published on node ${owner}`)))
            )
          const other = yield* directory.claim(app, name, credential, lost)
          if (other !== undefined) return yield* new StreamBusy({ app, name, publisher: `node ${other}` })
          yield* Effect.addFinalizer(() => directory.release(app, name))
          yield* Effect.logDebug(`Cluster: ${app}/${name} claimed for ${directory.self.id} by ${connectionId}`)
        }),
      remotePlay: (request) => remotePlay(request.app, request.name, request.query),
      touch: (app, name) => {
        const key = `${app}/${name}`
        if (lastUse.has(key)) lastUse.set(key, clock.unsafeCurrentTimeMillis())
      },
      remoteHls: (app, name) => {
        Runtime.runFork(runtime)(remotePlay(app, name, "").pipe(Effect.ignore))
      }
    })
  })
)
