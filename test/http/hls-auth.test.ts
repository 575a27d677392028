/**
 * LL-HLS authorization, as for HTTP-FLV: with --protect-play a playlist without a valid token is refused
 * (403) — and, packaged on demand, starts no packaging; with one, every URI in the playlists carries the
 * client's query, so the player's next requests carry the token too.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { signToken, tokens } from "../../src/core/auth.js"
import { syntheticPublisher } from "../support/client.js"
import { waitUntil } from "../support/poll.js"
import { startHttpServer } from "../support/server.js"

it.scopedLive("--protect-play covers LL-HLS: no token 403 and nothing packaged; a token is carried into every URI", () =>
  Effect.gen(function* () {
    const secret = Redacted.make("s3cret")
    const server = yield* startHttpServer({ hlsOnDemand: true }, tokens(secret, true))
    const expires = Math.floor(Date.now() / 1000) + 600
    const query = `token=${signToken(secret, "live", "cam", expires)}&expires=${expires}`
    const publisher = yield* Effect.promise(() => syntheticPublisher(server.rtmpPort, `cam?${query}`))
    yield* Effect.addFinalizer(() => Effect.sync(() => (publisher.stop(), publisher.client.close())))
    const stream = () => Effect.runPromise(server.registry.lookup("live", "cam"))
    yield* Effect.promise(async () => {
      await waitUntil("the stream to be live with a GOP", async () => ((await stream())?.gop.length ?? 0) > 0, 10_000)
      expect((await fetch(`${server.base}/live/cam.m3u8`)).status).toBe(403)
      expect((await fetch(`${server.base}/live/cam/media.m3u8`)).status).toBe(403)
      expect((await fetch(`${server.base}/live/cam/media.m3u8?token=forged&expires=${expires}`)).status).toBe(403)
      expect((await stream())?.players.size).toBe(0) // a refused request starts no packaging

      const multivariant = await fetch(`${server.base}/live/cam.m3u8?${query}`)
      expect(multivariant.status).toBe(200)
      expect(await multivariant.text()).toContain(`cam/media.m3u8?${query}`)
      const media = await fetch(`${server.base}/live/cam/media.m3u8?${query}`)
      expect(media.status).toBe(200)
      const uris = (await media.text()).split("\n").flatMap((line) => [...line.matchAll(/URI="([^"]+)"/g)].map((m) => m[1] as string))
      expect(uris.length).toBeGreaterThan(1)
      for (const uri of uris) expect(uri.endsWith(`?${query}`)).toBe(true)
      const init = await fetch(`${server.base}/live/cam/${uris[0]}`)
      expect(init.status).toBe(200)
      expect(init.headers.get("content-type")).toBe("video/mp4")
    })
  }))
