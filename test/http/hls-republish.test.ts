/**
 * LL-HLS across an unpublish and a republish: the playlist answers 404 while the stream is down, then comes
 * back with a new URI prefix (no stale cache can serve the old init segment), media sequence numbers that
 * continue, and the discontinuity sequence counting the new session — what lets players recover by themselves.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { syntheticPublisher } from "../support/client.js"
import { waitUntil } from "../support/poll.js"
import { startHttpServer } from "../support/server.js"

const playlistOf = async (url: string) => {
  const response = await fetch(url)
  return { status: response.status, text: response.status === 200 ? await response.text() : "" }
}

const field = (text: string, tag: string) => Number(new RegExp(`#${tag}:(\\d+)`).exec(text)?.[1])
const sid = (text: string) => /#EXT-X-MAP:URI="([0-9a-f]+)-init\.mp4"/.exec(text)?.[1]

it.scopedLive("republish: 404 in between, then a new URI prefix, continuing sequence numbers and a new discontinuity sequence", () =>
  Effect.gen(function* () {
    const server = yield* startHttpServer()
    const url = `${server.base}/live/again/media.m3u8`
    yield* Effect.promise(async () => {
      const first = await syntheticPublisher(server.rtmpPort, "again")
      await waitUntil("the first session's segments", async () => field((await playlistOf(url)).text, "EXT-X-MEDIA-SEQUENCE") >= 0 && (await playlistOf(url)).text.includes("-s1.m4s"), 20_000, 100)
      const before = (await playlistOf(url)).text
      first.stop()
      first.client.close()
      await waitUntil("the playlist to go", async () => (await playlistOf(url)).status === 404, 10_000, 100)

      const second = await syntheticPublisher(server.rtmpPort, "again")
      try {
        await waitUntil("the second session's playlist", async () => (await playlistOf(url)).status === 200, 20_000, 100)
        const after = (await playlistOf(url)).text
        expect(sid(after)).toBeDefined()
        expect(sid(after)).not.toBe(sid(before))
        expect(field(after, "EXT-X-MEDIA-SEQUENCE")).toBeGreaterThan(field(before, "EXT-X-MEDIA-SEQUENCE"))
        expect(field(after, "EXT-X-DISCONTINUITY-SEQUENCE")).toBe(field(before, "EXT-X-DISCONTINUITY-SEQUENCE") + 1)
        expect((await fetch(`${server.base}/live/again/${sid(before)}-init.mp4`)).status).toBe(404) // the old session's URIs are gone
      } finally {
        second.stop()
        second.client.close()
      }
    })
  }))
