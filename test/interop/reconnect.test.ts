/**
 * A legacy publisher and the Reconnect Request: ffmpeg 5.1 declares no capsEx, so the API refuses to ask
 * it (409) unless forced; asked anyway, it ignores the request (rtmpproto.c acts only on errors and
 * NetStream codes) and keeps streaming on the same connection until it leaves on its own.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { decodedFrames, decoderErrors, FPS, ffmpegPlay, ffmpegPublish } from "../support/processes.js"
import { waitUntil } from "../support/poll.js"
import { startHttpServer } from "../support/server.js"

const TOKEN = "legacy-reconnect"

describe("reconnect request to a legacy publisher", () => {
  it.scopedLive("ffmpeg 5.1 ignores it and keeps streaming on the same connection until it leaves", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer({ apiToken: Option.some(Redacted.make(TOKEN)) })
      const post = (id: string, body: unknown) =>
        fetch(`${server.base}/api/v1/connections/${id}/reconnect`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) })
      const publisherIds = async () =>
        ((await (await fetch(`${server.base}/api/v1/connections`)).json()) as { connections: Array<{ id: string; role: string }> }).connections
          .filter((c) => c.role === "publisher")
          .map((c) => c.id)
      const seconds = 6
      const result = yield* Effect.promise(async () => {
        const publisher = ffmpegPublish(`rtmp://127.0.0.1:${server.rtmpPort}/live/legacy`, seconds)
        await waitUntil("ffmpeg publishing", async () => (await publisherIds()).length === 1, 20_000)
        const player = ffmpegPlay(`rtmp://127.0.0.1:${server.rtmpPort}/live/legacy`, 60_000)
        const [id = ""] = await publisherIds()
        const refused = await post(id, {})
        const forced = await post(id, { force: true, tcUrl: `rtmp://127.0.0.1:${server.rtmpPort}/live` })
        const seen = new Set<string>()
        let finished = false
        const published = publisher.done.then((r) => ((finished = true), r))
        while (!finished) {
          for (const p of await publisherIds()) seen.add(p)
          await new Promise((r) => setTimeout(r, 200))
        }
        return { refused: refused.status, forced: forced.status, id, seen, published: await published, played: await player.done }
      })
      expect(result.refused).toBe(409)
      expect(result.forced).toBe(200)
      expect(result.published.code, result.published.stderr).toBe(0)
      expect([...result.seen]).toEqual([result.id]) // never reconnected, never dropped
      expect(decodedFrames(result.played.stdout)).toBeGreaterThanOrEqual(Math.ceil(0.8 * seconds * FPS))
      expect(decoderErrors(result.played.stderr)).toEqual([])
    }), 90_000)
})
