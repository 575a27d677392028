/**
 * A real browser plays the watch page: Debian's Chromium, headless, driven by puppeteer-core; mpegts.js
 * served by the server itself. The browser's first playing page within 3 s (it starts Chromium's media
 * pipeline); then once over WS-FLV and once over HTTP-FLV: the first frame within 1 s of page load,
 * currentTime advancing, more than 60 decoded frames within 5 s, no player errors. Then over LL-HLS with
 * hls.js, packaged on demand (the default): the first viewer's first frame within 2.5 s (its request starts
 * the packaging and waits for the next keyframe and PART-HOLD-BACK of live parts), playback less than 1.5 s
 * behind the ingest clock for a minute; a second viewer's first frame within 1.5 s.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { CHROMIUM, launchChromium, playbackOf } from "../support/browser.js"
import { httpGet } from "../support/http.js"
import { waitUntil } from "../support/poll.js"
import { ffmpegPublish } from "../support/processes.js"
import { startHttpServer } from "../support/server.js"

const artifacts = path.resolve(import.meta.dirname, "../../test-results")

describe.runIf(CHROMIUM !== undefined)("the watch page in Chromium", () => {
  it.scopedLive("plays over WS-FLV, HTTP-FLV and LL-HLS: first frame within 1 s (HLS: 2.5 s on demand, then 1.5 s), 60+ frames within 5 s, no errors", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer()
      const publisher = ffmpegPublish(`rtmp://127.0.0.1:${server.rtmpPort}/live/show`, 120)
      yield* Effect.addFinalizer(() => Effect.sync(() => publisher.kill()))
      const browser = yield* Effect.acquireRelease(Effect.promise(launchChromium), (b) => Effect.promise(() => b.close()))
      yield* Effect.promise(async () => {
        await waitUntil("the stream to be live", async () => (await httpGet(`${server.base}/live/show.flv`, 300)).body.length > 1000, 20_000, 200)
        fs.mkdirSync(artifacts, { recursive: true })
        // A freshly launched Chromium starts its media pipeline with the first page that plays (on a slow
        // 2-core machine 0.7–1.7 s to the first frame, where later pages take 0.2–0.4 s): that page is timed
        // against a looser bound, and the 1 s bound applies to page loads in a running browser.
        const cold = await browser.newPage()
        await cold.goto(`${server.base}/live/show?transport=http`, { waitUntil: "domcontentloaded" })
        await waitUntil("cold start: the first frame", async () => (await playbackOf(cold)).firstFrameAt !== undefined, 10_000, 50)
        const coldFirst = (await playbackOf(cold)).firstFrameAt as number
        console.log(`cold browser: first frame ${Math.round(coldFirst)} ms after navigation`)
        expect(coldFirst).toBeLessThan(3000)
        await cold.close()
        for (const transport of ["ws", "http", "hls"] as const) {
          const page = await browser.newPage()
          const blockingReloads: Array<number> = []
          page.on("request", (request) => {
            if (/media\.m3u8\?.*_HLS_msn=\d+&_HLS_part=\d+/.test(request.url())) blockingReloads.push(Date.now())
          })
          await page.setViewport({ width: 1100, height: 900 })
          await page.goto(`${server.base}/live/show?transport=${transport}`, { waitUntil: "domcontentloaded" })
          const playback = () => playbackOf(page)
          await waitUntil(`${transport}: the first frame`, async () => (await playback()).firstFrameAt !== undefined, 10_000, 50)
          const first = await playback()
          await waitUntil(`${transport}: 60 frames`, async () => (await playback()).frames > 60, 5_000, 100)
          const later = await playback()
          // The GOP is 1 s (-g FPS): an on-demand start waits up to 1 s for a keyframe, then 0.6 s of parts.
          expect(first.firstFrameAt).toBeLessThan(transport === "hls" ? 2500 : 1000)
          expect(later.currentTime).toBeGreaterThan(first.currentTime)
          expect(later.errors).toEqual([])
          if (transport === "hls") {
            // Let hls.js settle on its live edge (PART-HOLD-BACK), then read how far behind the ingest clock it plays.
            await new Promise((r) => setTimeout(r, 4000))
            const settled = await playback()
            console.log(`LL-HLS: first frame ${Math.round(first.firstFrameAt ?? -1)} ms after navigation, ${settled.behindLiveMs} ms behind ingest`)
            expect(settled.behindLiveMs).not.toBeNull()
            expect(settled.behindLiveMs as number).toBeLessThan(1500)
            // A minute of playback: no stall, playback keeps pace, hls.js reloads with blocking requests at the part cadence.
            const reloadsBefore = blockingReloads.length
            await new Promise((r) => setTimeout(r, 60_000))
            const minute = await playback()
            console.log(`LL-HLS after 60 s: ${minute.behindLiveMs} ms behind ingest, ${minute.stalls} stalls, ${blockingReloads.length - reloadsBefore} blocking reloads`)
            expect(minute.stalls, `stalls: ${JSON.stringify(minute.stallLog)}`).toBe(0)
            expect(minute.currentTime - settled.currentTime).toBeGreaterThan(57)
            expect(minute.behindLiveMs as number).toBeLessThan(1500)
            expect(minute.errors).toEqual([])
            expect(blockingReloads.length - reloadsBefore).toBeGreaterThan(60 / 0.2 / 2) // at least half the part rate
            // A second viewer finds the packaging running: its first frame comes as fast as from publish.
            const second = await browser.newPage()
            await second.goto(`${server.base}/live/show?transport=hls`, { waitUntil: "domcontentloaded" })
            await waitUntil("hls: a second viewer's first frame", async () => (await playbackOf(second)).firstFrameAt !== undefined, 10_000, 50)
            const joined = await playbackOf(second)
            console.log(`LL-HLS, a second viewer: first frame ${Math.round(joined.firstFrameAt ?? -1)} ms after navigation`)
            expect(joined.firstFrameAt).toBeLessThan(1500)
            expect(joined.errors).toEqual([])
            await second.close()
          } else console.log(`${transport}: first frame ${Math.round(first.firstFrameAt ?? -1)} ms after navigation`)
          await page.screenshot({ path: path.join(artifacts, `watch-page-${transport}.png`) })
          await page.close()
        }
      })
    }), 180_000)
})
