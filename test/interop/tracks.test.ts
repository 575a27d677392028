/**
 * What a player receives before media must show ffmpeg/ffprobe exactly the publisher's tracks: no phantom
 * data or subtitle streams (libavformat's FLV demuxer makes a data stream of script data with a name it
 * does not know, and a subtitle stream of `onMetaData` at a non-zero timestamp), the publisher's metadata
 * still visible. Directly, through a pull relay, and after a publisher takeover.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseRtmpUrl } from "../../src/relay/url.js"
import { waitUntil } from "../support/poll.js"
import { ffmpegPublish, interrupt, run, type Running } from "../support/processes.js"
import { startServer } from "../support/server.js"

interface Probe {
  readonly streams: ReadonlyArray<{ readonly codec_type: string; readonly codec_name?: string; readonly width?: number }>
  readonly format: { readonly tags?: Record<string, string> }
}

const ffprobe = async (source: string): Promise<{ probe: Probe; stderr: string }> => {
  const result = await run("ffprobe", ["-v", "warning", "-show_streams", "-show_format", "-of", "json", source], 30_000)
  return { probe: JSON.parse(result.stdout || "{}") as Probe, stderr: result.stderr }
}

const expectPublisherTracks = ({ probe, stderr }: { probe: Probe; stderr: string }) => {
  expect(probe.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"])
  expect(stderr).not.toMatch(/Unsupported codec/)
  expect(probe.format.tags?.encoder).toMatch(/^Lavf/) // the publisher's own metadata
  expect(probe.streams.find((s) => s.codec_type === "video")?.width).toBe(320)
}

/** `-map 0 -c copy` into Matroska: fails when any stream is neither audio, video nor subtitle. */
const recordEverything = async (url: string, seconds: number) => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "rtmp-tracks-")), "all.mkv")
  const result = await run("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-i", url, "-map", "0", "-c", "copy", "-t", String(seconds), out], 60_000)
  return { code: result.code, stderr: result.stderr, probe: await ffprobe(out) }
}

/** Waits until ffprobe can see the stream live (the publisher has sent its first keyframe). */
const whenLive = (url: string) =>
  waitUntil(`${url} to be live`, async () => (await ffprobe(url)).probe.streams.length > 0, 20_000, 200)

describe("the tracks players see are exactly the publisher's", () => {
  it.scopedLive("direct: ffprobe sees one video and one audio stream; -map 0 -c copy to mkv works", () =>
    Effect.gen(function* () {
      const { port } = yield* startServer()
      const url = `rtmp://127.0.0.1:${port}/live/tracks`
      const publisher = ffmpegPublish(url, 20)
      yield* Effect.addFinalizer(() => Effect.sync(() => publisher.kill()))
      yield* Effect.promise(async () => {
        await whenLive(url)
        expectPublisherTracks(await ffprobe(url))
        const recorded = await recordEverything(url, 3)
        expect(recorded.stderr).toBe("")
        expect(recorded.code).toBe(0)
        expect(recorded.probe.probe.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"])
      })
    }), 90_000)

  it.scopedLive("through a pull relay: the same two tracks and metadata", () =>
    Effect.gen(function* () {
      const origin = yield* startServer()
      const edge = yield* startServer({ pulls: [{ remote: parseRtmpUrl(`rtmp://127.0.0.1:${origin.port}/live/src`), app: "live", name: "pulled" }] })
      const publisher = ffmpegPublish(`rtmp://127.0.0.1:${origin.port}/live/src`, 20)
      yield* Effect.addFinalizer(() => Effect.sync(() => publisher.kill()))
      const url = `rtmp://127.0.0.1:${edge.port}/live/pulled`
      yield* Effect.promise(async () => {
        await whenLive(url)
        expectPublisherTracks(await ffprobe(url))
        const recorded = await recordEverything(url, 2)
        expect(recorded.code).toBe(0)
        expect(recorded.probe.probe.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"])
      })
    }), 90_000)

  it.scopedLive("after a takeover: a recording across it and a new probe both see two tracks", () =>
    Effect.gen(function* () {
      const { port } = yield* startServer({}, { publisherTakeoverGrace: Duration.millis(500) })
      const url = `rtmp://127.0.0.1:${port}/live/cam`
      const running: Array<Running> = []
      yield* Effect.addFinalizer(() => Effect.sync(() => running.forEach((r) => r.kill())))
      yield* Effect.promise(async () => {
        const first = ffmpegPublish(url, 30)
        running.push(first)
        await whenLive(url)
        const recording = recordEverything(url, 5)
        await new Promise((r) => setTimeout(r, 1500)) // part of the recording comes from the first publisher
        first.process.kill("SIGSTOP") // its network "dies"
        await new Promise((r) => setTimeout(r, 1000)) // longer than the grace
        const second = ffmpegPublish(url, 20)
        running.push(second)
        const recorded = await recording
        expect(recorded.code).toBe(0)
        expect(recorded.probe.probe.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"])
        expectPublisherTracks(await ffprobe(url))
        await interrupt(second)
      })
    }), 90_000)
})
