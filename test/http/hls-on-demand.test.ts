/**
 * LL-HLS packaging on demand (the default): a live stream nobody asked for over HLS is not packaged; the
 * first playlist request starts it and is answered once the cached GOP has run to the next keyframe (a first,
 * shorter segment); after `--hls-idle-timeout` without a request it stops, and the next request starts it
 * again with a new URI prefix and continuing sequence numbers. With `--no-hls-on-demand` a stream is packaged
 * from the moment it goes live, idle or not.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { syntheticPublisher } from "../support/client.js"
import { waitUntil } from "../support/poll.js"
import { startHttpServer } from "../support/server.js"

const field = (text: string, tag: string) => Number(new RegExp(`#${tag}:(\\d+)`).exec(text)?.[1])
const sid = (text: string) => /#EXT-X-MAP:URI="([0-9a-f]+)-init\.mp4"/.exec(text)?.[1]

describe("LL-HLS packaging on demand, and from the start", () => {
  it.scopedLive("by default: not packaged until asked; the first request answered from the GOP cache; stopped when idle; started again", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer({ hlsIdleTimeout: Duration.seconds(1) })
      const publisher = yield* Effect.promise(() => syntheticPublisher(server.rtmpPort, "od"))
      yield* Effect.addFinalizer(() => Effect.sync(() => (publisher.stop(), publisher.client.close())))
      const stream = () => Effect.runPromise(server.registry.lookup("live", "od"))
      const url = `${server.base}/live/od/media.m3u8`
      yield* Effect.promise(async () => {
        // Live with a cached GOP (keyframes every 0.5 s) and a second keyframe behind it.
        await waitUntil("a live stream with a cached GOP", async () => ((await stream())?.gop.length ?? 0) > 5 && (await stream())?.keyframeInterval !== undefined, 10_000)
        expect((await stream())?.players.size).toBe(0) // nothing packages it yet

        const first = await fetch(url)
        expect(first.status).toBe(200) // the very first request: no 404, no waiting for a segment
        const text = await first.text()
        expect(text).toMatch(/#EXTINF:0\.\d+,/) // the cached GOP as a first, shorter segment
        expect(field(text, "EXT-X-TARGETDURATION")).toBe(2)
        expect((await stream())?.players.size).toBe(1)

        await waitUntil("packaging to stop after a second without requests", async () => (await stream())?.players.size === 0, 10_000, 100)
        const again = await fetch(url)
        expect(again.status).toBe(200)
        const next = await again.text()
        expect(sid(next)).toBeDefined()
        expect(sid(next)).not.toBe(sid(text)) // a new URI prefix: nothing cached from before can be mixed in
        expect(field(next, "EXT-X-MEDIA-SEQUENCE")).toBeGreaterThan(field(text, "EXT-X-MEDIA-SEQUENCE"))
        expect(field(next, "EXT-X-DISCONTINUITY-SEQUENCE")).toBe(field(text, "EXT-X-DISCONTINUITY-SEQUENCE") + 1)
      })
    }))

  it.scopedLive("--no-hls-on-demand: packaged from the moment the stream goes live, without a request", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer({ hlsOnDemand: false, hlsIdleTimeout: Duration.seconds(1) })
      const publisher = yield* Effect.promise(() => syntheticPublisher(server.rtmpPort, "always"))
      yield* Effect.addFinalizer(() => Effect.sync(() => (publisher.stop(), publisher.client.close())))
      yield* Effect.promise(async () => {
        await waitUntil("the packager to join", async () => (await Effect.runPromise(server.registry.lookup("live", "always")))?.players.size === 1, 10_000)
        await waitUntil("a playlist", async () => (await fetch(`${server.base}/live/always/media.m3u8`)).status === 200, 10_000, 100)
        // Idle time does not stop it.
        await new Promise((resolve) => setTimeout(resolve, 1500))
        expect((await Effect.runPromise(server.registry.lookup("live", "always")))?.players.size).toBe(1)
      })
    }))
})
