/**
 * The cluster's shared state, in Redis (node-redis's `@redis/client`, offline queue off so a command
 * fails fast when Redis is away). Keys are prefixed `ertmp:{cluster}:`:
 * - `node:{id}` = this node's record (advertised URL, epoch), PX ttl, refreshed every ttl/3; a node is
 *   alive only while its key exists. `nodes` is the set of ids ever seen (dead ones are skipped).
 * - `stream:{app/name}` = `{nodeId}|{epoch}` for the node that ingests it: claimed by a Lua script (free,
 *   ours, or its owner's node key is gone), renewed with compare-and-pexpire, released with
 *   compare-and-delete.
 * - `relay:{id}` = the lease of a static relay (`SET NX PX`), renewed and released the same way.
 * Redis away → `Degraded`: what is running keeps running; when Redis is back the node re-registers and
 * re-claims its streams (a conflicting claim in Redis wins, with a warning naming both nodes).
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as crypto from "node:crypto"
import { ServerConfig } from "../core/config.js"
import { RtmpServer } from "../rtmp/listener.js"

export class DirectoryError extends Data.TaggedError("DirectoryError")<{ readonly message: string }> {}

export interface NodeRecord {
  readonly id: string
  /** `rtmp://host:port` other nodes pull from. */
  readonly advertise: string
  readonly epoch: number
  /** The epoch as text: what claims carry (Lua's number formatting cannot be trusted with 13 digits). */
  readonly incarnation: string
  readonly startedAt: number
}

export type DirectoryState = "Ready" | "Degraded"

/**
 * `stream:` values are `node|epoch|credential digest`. Claimed when free, ours, its owner is gone (no node
 * key, or a node key of a later incarnation: a node restarted under the same id), or the new publisher
 * proves the same credential (ARGV[5], non-empty) as the current one.
 */
const CLAIM = `
local current = redis.call('GET', KEYS[1])
if current then
  local owner, epoch, digest = string.match(current, '^([^|]*)|([^|]*)|?(.*)$')
  local same = ARGV[5] ~= '' and digest == ARGV[5]
  if owner ~= ARGV[1] and not same then
    local node = redis.call('GET', ARGV[4] .. owner)
    if node and cjson.decode(node).incarnation == epoch then return current end
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[5], 'PX', ARGV[3])
return 'OK'`

/** Compare (this node's `node|epoch|` prefix) and extend. */
const RENEW = `
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1])) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

/** Compare (prefix) and delete. */
const RELEASE = `
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1])) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

const degradedGauge = Metric.gauge("cluster_directory_degraded", { description: "1 while this node cannot reach the cluster's Redis" })

/** The advertised URL: `--advertise`, else the RTMP listener's host and port (loopback for a wildcard host). */
const advertisedUrl = (configured: Option.Option<string>, host: string, port: number): string =>
  Option.getOrElse(configured, () => `rtmp://${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host}:${port}`).replace(/\/+$/, "")

export class Directory extends Effect.Service<Directory>()("effect-rtmp/Directory", {
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const url = Option.getOrElse(config.clusterRedis, () => "")
    const prefix = `ertmp:${config.clusterName}:`
    const nodeId = Option.getOrElse(config.nodeId, () => `node-${crypto.randomBytes(4).toString("hex")}`)
    const epoch = yield* Clock.currentTimeMillis
    const ttl = Math.max(300, Duration.toMillis(config.clusterTtl))
    // The port actually bound (a configured 0 picks one).
    const server = yield* Effect.serviceOption(RtmpServer)
    const port = Option.match(server, { onNone: () => config.port, onSome: (s) => s.address.port })
    const self: NodeRecord = { id: nodeId, advertise: advertisedUrl(config.advertise, config.host, port), epoch, incarnation: String(epoch), startedAt: epoch }
    // Every value this node writes starts with this prefix; renewals and releases compare it.
    const mine = `${nodeId}|${epoch}|`
    /** Streams this node claimed, re-claimed after an outage; `lost` ends the local publisher when another node won. */
    const claims = new Map<string, { readonly app: string; readonly name: string; readonly digest: string; readonly lost: (owner: string) => void }>()
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime.runFork(runtime)
    let state: DirectoryState = "Degraded"

    // Loaded only when the node is clustered: a single node does not pay for the Redis client at start.
    const { createClient } = yield* Effect.promise(() => import("@redis/client"))
    const client = createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 4), 1500) }
    })
    const command = <A>(what: string, f: () => Promise<A>): Effect.Effect<A, DirectoryError> =>
      Effect.tryPromise({ try: f, catch: (cause) => new DirectoryError({ message: `Redis ${what}: ${cause instanceof Error ? cause.message : String(cause)}` }) }).pipe(
        Effect.timeoutFail({ duration: "1 second", onTimeout: () => new DirectoryError({ message: `Redis ${what}: no answer within 1 s` }) })
      )

    const nodeKey = (id: string) => `${prefix}node:${id}`
    const streamKey = (app: string, name: string) => `${prefix}stream:${app}/${name}`

    const register = command("register", async () => {
      await client.set(nodeKey(nodeId), JSON.stringify(self), { PX: ttl })
      await client.sAdd(`${prefix}nodes`, nodeId)
    })

    const claimKey = (app: string, name: string, digest: string) =>
      command("claim", () => client.eval(CLAIM, { keys: [streamKey(app, name)], arguments: [nodeId, String(epoch), String(ttl), `${prefix}node:`, digest] })).pipe(
        Effect.map((answer) => (answer === "OK" ? undefined : String(answer).split("|")[0]))
      )

    /**
     * Re-claims every stream this node holds whose claim is gone (expired while Redis was away); a claim
     * another node holds now wins (it was taken over, or claimed during the outage), with a warning naming
     * both nodes, and the local publisher is let go.
     */
    const reconcile = Effect.gen(function* () {
      for (const [key, stream] of claims) {
        const value = yield* command("lookup", () => client.get(key))
        const holder = value === null ? undefined : (value.split("|")[0] ?? "")
        if (holder === nodeId && value?.startsWith(mine) === true) continue
        const other = holder === undefined ? yield* claimKey(stream.app, stream.name, stream.digest) : holder
        if (other !== undefined) {
          claims.delete(key)
          yield* Effect.logWarning(`Cluster: ${stream.app}/${stream.name} is claimed by ${other} in Redis and was published on ${nodeId}; the claim in Redis wins`)
          stream.lost(other)
        }
      }
    })

    const setState = (next: DirectoryState, why: string) =>
      Effect.gen(function* () {
        if (state === next) return
        state = next
        yield* Metric.set(degradedGauge, next === "Degraded" ? 1 : 0)
        if (next === "Degraded") yield* Effect.logWarning(`Cluster directory unavailable (${why}): serving local streams only`)
        else yield* Effect.logInfo(`Cluster directory ready: node ${nodeId} (${self.advertise})`)
      })

    client.on("error", (error: Error) => run(setState("Degraded", error.message)))
    client.on("ready", () =>
      run(
        register.pipe(
          Effect.zipRight(setState("Ready", "connected")),
          Effect.zipRight(reconcile),
          Effect.catchAll((e) => Effect.logWarning(`Cluster: re-registering failed: ${e.message}`))
        )
      )
    )
    yield* Effect.acquireRelease(
      command("connect", () => client.connect()).pipe(Effect.catchAll((e) => setState("Degraded", e.message))),
      () =>
        Effect.gen(function* () {
          // Leave the directory at once: other nodes need not wait for the TTL.
          for (const [key] of claims) yield* command("release", () => client.eval(RELEASE, { keys: [key], arguments: [mine] })).pipe(Effect.ignore)
          yield* command("leave", () => client.del(nodeKey(nodeId))).pipe(Effect.ignore)
          yield* Effect.promise(() => client.close().catch(() => undefined)).pipe(Effect.timeout("1 second"), Effect.ignore)
        })
    )

    // Heartbeat and claim renewal every third of the TTL.
    yield* Effect.gen(function* () {
      yield* register
      for (const [key] of claims) {
        const kept = yield* command("renew", () => client.eval(RENEW, { keys: [key], arguments: [mine, String(ttl)] }))
        if (kept === 0) yield* reconcile
      }
      if (state === "Degraded" && client.isReady) yield* setState("Ready", "connected")
    }).pipe(
      Effect.catchAll((e) => setState("Degraded", e.message)),
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(100, Math.floor(ttl / 3))))),
      Effect.forkScoped
    )

    const readNode = (id: string) =>
      command("node", () => client.get(nodeKey(id))).pipe(Effect.map((json) => (json === null ? undefined : (JSON.parse(json) as NodeRecord))))

    return {
      self,
      state: () => state,
      ttl,
      /**
       * Claims `app/name` for this node until `release`; the id of the live node that owns it otherwise.
       * Redis away: allowed (local publishes go on). `lost` runs if another node wins the claim later.
       */
      claim: (app: string, name: string, credential: string | undefined, lost: (owner: string) => void) => {
        const digest = credential === undefined ? "" : crypto.createHash("sha256").update(`${app}/${name}:${credential}`).digest("hex").slice(0, 32)
        const entry = { app, name, digest, lost }
        return claimKey(app, name, digest).pipe(
          Effect.tap((other) => Effect.sync(() => (other === undefined ? void claims.set(streamKey(app, name), entry) : undefined))),
          Effect.catchAll((e) => {
            claims.set(streamKey(app, name), entry) // claimed when Redis comes back
            return Effect.logWarning(`Cluster: publishing ${app}/${name} without a claim: ${e.message}`).pipe(Effect.as(undefined))
          })
        )
      },
      release: (app: string, name: string) =>
        Effect.suspend(() => {
          claims.delete(streamKey(app, name))
          return command("release", () => client.eval(RELEASE, { keys: [streamKey(app, name)], arguments: [mine] })).pipe(Effect.ignore)
        }),
      /** The live node that ingests `app/name`, if any. */
      owner: (app: string, name: string) =>
        Effect.gen(function* () {
          const value = yield* command("lookup", () => client.get(streamKey(app, name)))
          if (value === null) return undefined
          const [owner = "", claimEpoch = ""] = value.split("|")
          const node = yield* readNode(owner)
          // A claim left by an earlier incarnation of the node is not an owner.
          return node !== undefined && node.incarnation === claimEpoch ? node : undefined
        }),
      /** Every live node. */
      nodes: Effect.gen(function* () {
        const ids = yield* command("nodes", () => client.sMembers(`${prefix}nodes`))
        const records = yield* Effect.forEach(ids, readNode)
        return records.filter((r): r is NodeRecord => r !== undefined)
      }),
      /** Every claimed stream and its owner's id. */
      listStreams: command("streams", async () => {
        const out: Array<{ stream: string; owner: string }> = []
        for await (const batch of client.scanIterator({ MATCH: `${prefix}stream:*`, COUNT: 100 })) {
          for (const key of ([] as Array<string>).concat(batch as unknown as Array<string>)) {
            const value = await client.get(key)
            if (value !== null) out.push({ stream: key.slice(`${prefix}stream:`.length), owner: value.split("|")[0] ?? "" })
          }
        }
        return out
      }),
      /** A relay lease: true when this node holds `relay:{id}` (taken if free, renewed if ours). */
      lease: (id: string) =>
        command("lease", async () => {
          const key = `${prefix}relay:${id}`
          if ((await client.eval(RENEW, { keys: [key], arguments: [mine, String(ttl)] })) === 1) return true
          return (await client.set(key, mine, { NX: true, PX: ttl })) === "OK"
        }),
      unlease: (id: string) => command("unlease", () => client.eval(RELEASE, { keys: [`${prefix}relay:${id}`], arguments: [mine] })).pipe(Effect.ignore)
    } as const
  })
}) {}
