import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Queue, TestClock } from "effect"
import { ServerConfig } from "../../src/core/config.js"
import { StreamRegistry } from "../../src/core/registry.js"
import type { StreamSubscriber } from "../../src/media/stream.js"

const TestRegistry = StreamRegistry.Default.pipe(Layer.provide(ServerConfig.layer({})))

const silentPlayer = (): StreamSubscriber => ({ onPublish: () => {}, onUnpublish: () => {}, onTakeover: () => {}, onFrame: () => {}, onData: () => {} })

describe("StreamRegistry", () => {
  it.scoped("keys streams by app and name; a second publisher on a live key is refused", () =>
    Effect.gen(function* () {
      const registry = yield* StreamRegistry
      const first = { connectionId: "c1" }
      yield* registry.publish("live", "cam", first)
      yield* registry.publish("other", "cam", { connectionId: "c2" }) // same name, other app: allowed
      const refused = yield* registry.publish("live", "cam", { connectionId: "c3" }).pipe(Effect.flip)
      expect(refused._tag).toBe("StreamBusy")
      expect(refused.publisher).toBe("c1")
      expect((yield* registry.lookup("live", "cam"))?.publisher).toBe(first)
    }).pipe(Effect.provide(TestRegistry)))

  it.scoped("app and name are a pair: live + sub/x and live/sub + x are two streams", () =>
    Effect.gen(function* () {
      const registry = yield* StreamRegistry
      const a = yield* registry.publish("live", "sub/x", { connectionId: "c1" })
      const b = yield* registry.publish("live/sub", "x", { connectionId: "c2" }) // not StreamBusy
      expect(a).not.toBe(b)
      const player = silentPlayer()
      const played = yield* registry.play("live/sub", "x", player, "c3")
      expect(played).toBe(b)
      expect(a.players.has(player)).toBe(false)
      expect((yield* registry.lookup("live", "sub/x"))?.publisher?.connectionId).toBe("c1")
      expect((yield* registry.list).length).toBe(2)
    }).pipe(Effect.provide(TestRegistry)))

  it.scoped("publishes lifecycle events and forgets streams nobody uses", () =>
    Effect.gen(function* () {
      const registry = yield* StreamRegistry
      const events = yield* registry.subscribe
      const player = silentPlayer()
      const stream = yield* registry.play("live", "s", player, "c9")
      const publisher = { connectionId: "c1" }
      yield* registry.publish("live", "s", publisher)
      yield* registry.unpublish(stream, publisher)
      expect((yield* registry.list).map((s) => [s.name, s.live, s.players])).toEqual([["s", false, 1]])
      yield* registry.leave(stream, player, "c9")
      expect(yield* registry.list).toEqual([])
      const tags = (yield* Queue.takeAll(events)).pipe((c) => [...c].map((e) => e._tag))
      expect(tags).toEqual(["PlayerJoined", "Published", "Unpublished", "PlayerLeft"])
    }).pipe(Effect.provide(TestRegistry)))

  it.scoped("a stale unpublish does not remove a newer publisher", () =>
    Effect.gen(function* () {
      const registry = yield* StreamRegistry
      const old = { connectionId: "old" }
      const stream = yield* registry.publish("live", "s", old)
      yield* registry.unpublish(stream, old)
      const fresh = { connectionId: "new" }
      yield* registry.publish("live", "s", fresh)
      yield* registry.unpublish(stream, old)
      expect((yield* registry.lookup("live", "s"))?.publisher).toBe(fresh)
    }).pipe(Effect.provide(TestRegistry)))

  it.scoped("a new publisher takes over a stream whose publisher has gone quiet, and the old one is kicked", () =>
    Effect.gen(function* () {
      const registry = yield* StreamRegistry
      const kicked: Array<string> = []
      const old = { connectionId: "old", kick: (reason: string) => void kicked.push(reason) }
      const stream = yield* registry.publish("live", "cam", old)
      stream.publishMedia(9, 0, Buffer.from([0x17, 0x01, 0, 0, 0]))
      const refused = yield* registry.publish("live", "cam", { connectionId: "too-early" }).pipe(Effect.flip)
      expect(refused._tag).toBe("StreamBusy") // the old one sent media just now
      yield* TestClock.adjust("3500 millis") // quiet for longer than the 3 s grace, on the TestClock
      const fresh = { connectionId: "fresh" }
      expect(yield* registry.publish("live", "cam", fresh)).toBe(stream)
      expect(stream.publisher).toBe(fresh)
      expect(kicked).toHaveLength(1)
      yield* registry.unpublish(stream, old) // the old connection's finalizer must not unpublish the new one
      expect(stream.publisher).toBe(fresh)
    }).pipe(Effect.provide(TestRegistry)))

  it.scoped("a publisher proving the same credential takes over at once, even from one still sending", () =>
    Effect.gen(function* () {
      const registry = yield* StreamRegistry
      const kicked: Array<string> = []
      const old = { connectionId: "old", credential: "key:show:k", kick: (reason: string) => void kicked.push(reason) }
      const stream = yield* registry.publish("live", "show", old)
      stream.publishMedia(9, 0, Buffer.from([0x17, 0x01, 0, 0, 0]))
      const other = yield* registry.publish("live", "show", { connectionId: "other", credential: "key:show:other" }).pipe(Effect.flip)
      expect(other._tag).toBe("StreamBusy")
      const again = { connectionId: "again", credential: "key:show:k" }
      yield* registry.publish("live", "show", again)
      expect(stream.publisher).toBe(again)
      expect(kicked[0]).toMatch(/same credential/)
    }).pipe(Effect.provide(TestRegistry)))
})
