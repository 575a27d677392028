/**
 * A takeover by an encoder with another decoder configuration (320x240 → 640x360): LL-HLS starts a
 * segment with EXT-X-DISCONTINUITY and a new EXT-X-MAP, each init segment with its own segments is read
 * by ffprobe at its own size and decodes cleanly; the MP4 recording splits into two files, one per
 * configuration, both decoding cleanly.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { waitUntil } from "../support/poll.js"
import { ffmpegPublish, run, sleep } from "../support/processes.js"
import { startHttpServer } from "../support/server.js"

/** Video size of a file, and whether it decodes without a word from ffmpeg. */
const inspect = async (file: string) => {
  const probe = await run("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries", "stream=width,height", "-of", "csv=p=0", file], 30_000)
  const decoded = await run("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-i", file, "-f", "null", "-"], 30_000)
  return { size: probe.stdout.trim(), clean: decoded.code === 0 && decoded.stderr === "" }
}

describe("a new decoder configuration mid-stream", () => {
  it.scopedLive("LL-HLS: a discontinuity and a new init segment; the recording: a new file", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "config-change-"))
      const server = yield* startHttpServer({ publisherTakeoverGrace: Duration.seconds(1), recordDir: Option.some(dir) })
      const url = `rtmp://127.0.0.1:${server.rtmpPort}/live/cam`
      const base = `${server.base}/live/cam`
      const first = ffmpegPublish(url, 60)
      yield* Effect.addFinalizer(() => Effect.sync(() => first.kill()))
      yield* Effect.promise(async () => {
        await waitUntil("two complete segments", async () => {
          const response = await fetch(`${base}/media.m3u8`)
          return response.status === 200 && ((await response.text()).match(/#EXTINF/g) ?? []).length >= 2
        }, 30_000, 200)
        first.process.kill("SIGSTOP") // its network dies; after the grace period the next encoder takes over
        await sleep(1500)
        const second = ffmpegPublish(url, 8, ["-s", "640x360"])
        let playlist = ""
        await waitUntil("a complete segment after the change", async () => {
          playlist = await (await fetch(`${base}/media.m3u8`)).text()
          const after = playlist.split("#EXT-X-DISCONTINUITY\n")[1] ?? ""
          return after.includes("#EXTINF")
        }, 30_000, 200)
        const lines = playlist.split("\n")
        expect(lines.filter((l) => l === "#EXT-X-DISCONTINUITY").length).toBe(1)
        const maps = lines.filter((l) => l.startsWith("#EXT-X-MAP:")).map((l) => /URI="([^"]+)"/.exec(l)?.[1] ?? "")
        expect(maps).toHaveLength(2)
        expect(maps[1]).toMatch(/-init2\.mp4$/)
        // Each configuration with its own segments, as a player reads them: init + segments, one file each.
        const [before, after] = playlist.split("#EXT-X-DISCONTINUITY\n").map((text) => text.split("\n").filter((l) => l.endsWith(".m4s") && !l.startsWith("#")))
        const sizes: Array<string> = []
        for (const [index, segments] of [before ?? [], after ?? []].entries()) {
          const bytes = [await (await fetch(`${base}/${maps[index]}`)).arrayBuffer()]
          for (const segment of segments) bytes.push(await (await fetch(`${base}/${segment}`)).arrayBuffer())
          const file = path.join(dir, `hls-${index}.mp4`)
          fs.writeFileSync(file, Buffer.concat(bytes.map((b) => Buffer.from(b))))
          const { size, clean } = await inspect(file)
          expect(clean).toBe(true)
          sizes.push(size)
        }
        expect(sizes).toEqual(["320,240", "640,360"])
        await second.done
        first.process.kill("SIGKILL")
        // The recording: one file per configuration.
        const recordings = path.join(dir, "live", "cam")
        await waitUntil("two recordings", () => fs.existsSync(recordings) && fs.readdirSync(recordings).filter((f) => f.endsWith(".mp4")).length === 2, 15_000)
        const files = fs.readdirSync(recordings).sort().map((f) => path.join(recordings, f))
        const recorded = await Promise.all(files.map(inspect))
        expect(recorded.map((r) => r.size)).toEqual(["320,240", "640,360"])
        expect(recorded.every((r) => r.clean)).toBe(true)
      })
    }), 120_000)
})
