/**
 * E-RTMP Reconnect Request between real instances on loopback: our push relay declares the Reconnect
 * capability; asked through the API it moves to a new connection at a keyframe (the stream is taken over
 * with that connection's first frame, so a viewer sees one continuous timeline); on a graceful shutdown
 * with `--reconnect-url` it moves to the other instance before the first one finishes closing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option, Redacted, Scope } from "effect"
import { parseRtmpUrl } from "../../src/relay/url.js"
import { isMedia, playAs, syntheticPublisher, type TestClient } from "../support/client.js"
import { waitUntil } from "../support/poll.js"
import { startHttpServer, startServer } from "../support/server.js"

const TOKEN = "reconnect-test"
const api = (base: string, path: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" } })

interface ConnectionJson {
  readonly id: string
  readonly role: string
  readonly stream: string | null
}
const publishers = async (base: string): Promise<Array<ConnectionJson>> =>
  ((await (await api(base, "/api/v1/connections")).json()) as { connections: Array<ConnectionJson> }).connections.filter((c) => c.role === "publisher")

/** Timestamps of coded video frames (decoder configurations share their first frame's time). */
const videoTimes = (client: TestClient) =>
  client.events.filter(isMedia).filter((e) => e.message.typeId === 9 && e.message.payload[1] === 1).map((e) => e.message.timestamp)

/** Strictly increasing, and no step longer than `maxStep` ms (the synthetic source sends a frame every 20 ms). */
const expectContinuous = (times: ReadonlyArray<number>, maxStep: number) => {
  for (let i = 1; i < times.length; i++) {
    const step = (times[i] as number) - (times[i - 1] as number)
    expect(step, `step ${i}: ${times[i - 1]} → ${times[i]}`).toBeGreaterThan(0)
    expect(step, `step ${i}: ${times[i - 1]} → ${times[i]}`).toBeLessThanOrEqual(maxStep)
  }
}

describe("E-RTMP reconnect request", () => {
  it.scopedLive("asked through the API, a push relay moves to a new connection at a keyframe; the viewer's timeline continues", () =>
    Effect.gen(function* () {
      const target = yield* startHttpServer({ apiToken: Option.some(Redacted.make(TOKEN)) })
      const source = yield* startServer({ pushes: [{ app: "live", name: "src", remote: parseRtmpUrl(`rtmp://127.0.0.1:${target.rtmpPort}/live/dst`) }] })
      const encoder = yield* Effect.promise(() => syntheticPublisher(source.port, "src", 500))
      yield* Effect.addFinalizer(() => Effect.sync(() => (encoder.stop(), encoder.client.close())))
      const viewer = yield* Effect.promise(() => playAs(target.rtmpPort, "dst"))
      yield* Effect.addFinalizer(() => Effect.sync(() => viewer.close()))
      yield* Effect.promise(async () => {
        await waitUntil("the viewer gets video", () => videoTimes(viewer).length > 30, 10_000)
        const [before] = await publishers(target.base)
        expect(before?.stream).toBe("live/dst")
        const refused = await api(target.base, "/api/v1/connections/nope/reconnect", { method: "POST" })
        expect(refused.status).toBe(404)
        const asked = await api(target.base, `/api/v1/connections/${before?.id}/reconnect`, { method: "POST", body: "{}" })
        expect(asked.status, await asked.clone().text()).toBe(200)
        await waitUntil("a new publisher connection, the old one gone", async () => {
          const now = await publishers(target.base)
          return now.length === 1 && now[0]?.id !== before?.id
        }, 10_000)
        const moved = videoTimes(viewer).length
        await waitUntil("video after the move", () => videoTimes(viewer).length > moved + 50, 10_000)
      })
      expect(viewer.closed).toBe(false)
      expectContinuous(videoTimes(viewer), 60)
      const report = (yield* source.health.all)[0]
      expect(report?.status._tag).toBe("Live") // moved without a failure or a backoff
    }), 60_000)

  it.scopedLive("on a graceful shutdown with --reconnect-url, a push moves to the other instance before the first one closes", () =>
    Effect.gen(function* () {
      const other = yield* startServer()
      const leavingScope = yield* Scope.make()
      const leaving = yield* startHttpServer({ apiToken: Option.some(Redacted.make(TOKEN)), reconnectUrl: Option.some(`rtmp://127.0.0.1:${other.port}/live`) }).pipe(
        Scope.extend(leavingScope)
      )
      const source = yield* startServer({ pushes: [{ app: "live", name: "src", remote: parseRtmpUrl(`rtmp://127.0.0.1:${leaving.rtmpPort}/live/dst`) }] })
      const encoder = yield* Effect.promise(() => syntheticPublisher(source.port, "src", 500))
      yield* Effect.addFinalizer(() => Effect.sync(() => (encoder.stop(), encoder.client.close())))
      const viewer = yield* Effect.promise(() => playAs(other.port, "dst"))
      yield* Effect.addFinalizer(() => Effect.sync(() => viewer.close()))
      yield* Effect.promise(() => waitUntil("the push reaches the first instance", async () => (await publishers(leaving.base)).length === 1, 10_000))
      const started = Date.now()
      yield* Scope.close(leavingScope, Exit.void) // returns once the moved publisher has left
      const tookMs = Date.now() - started
      yield* Effect.promise(() => waitUntil("video on the other instance", () => videoTimes(viewer).length > 50, 10_000))
      expect(tookMs).toBeLessThan(10_000) // well inside --reconnect-grace
      expectContinuous(videoTimes(viewer), 60)
      const report = (yield* source.health.all)[0]
      expect(report?.status._tag).toBe("Live")
    }), 60_000)
})
