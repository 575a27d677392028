/**
 * Recording with real media: a 30 s ffmpeg publish becomes an MP4 whose duration ffprobe confirms and
 * which ffmpeg decodes without an error (and an 8 s one a plain FLV); `kill -9` of the server mid-recording leaves a file
 * that plays up to its last fragment; a full disk (a 256 KiB tmpfs) stops the recording with one error
 * line while a viewer goes on receiving.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { RecordService } from "../../src/record/service.js"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { playAs } from "../support/client.js"
import { buildCli } from "../support/cluster.js"
import { waitUntil } from "../support/poll.js"
import { ffmpegPublish, run } from "../support/processes.js"
import { testServer } from "../support/server.js"

const root = path.resolve(import.meta.dirname, "../..")

const filesUnder = (dir: string, ext: string): Array<string> =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(ext)).map((f) => path.join(dir, f))
    : []

const probe = async (file: string) => {
  const result = await run("ffprobe", ["-v", "error", "-show_entries", "format=duration:stream=codec_type", "-of", "json", file], 30_000)
  const parsed = JSON.parse(result.stdout) as { format: { duration: string }; streams: Array<{ codec_type: string }> }
  return { duration: Number(parsed.format.duration), streams: parsed.streams.map((s) => s.codec_type).sort() }
}

const recordingServer = (overrides: Parameters<typeof testServer>[0], logs: Array<{ level: LogLevel.LogLevel; message: string }>) =>
  RecordService.Default.pipe(
    Layer.provide(Logger.minimumLogLevel(LogLevel.Info)), // the test server is quiet below Error; the recorder's lines are what we check
    Layer.provideMerge(testServer(overrides)),
    Layer.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ logLevel, message }) => void logs.push({ level: logLevel, message: String(Array.isArray(message) ? message.join(" ") : message) }))))
  )

describe("recording", () => {
  it.scopedLive("a 30 s publish: an MP4 of 30 ± 1 s with both tracks that decodes cleanly; 8 s to a plain FLV likewise", () =>
    Effect.gen(function* () {
      for (const [format, seconds] of [["mp4", 30], ["flv", 8]] as const) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `record-${format}-`))
        const logs: Array<{ level: LogLevel.LogLevel; message: string }> = []
        const context = yield* Layer.build(recordingServer({ recordDir: Option.some(dir), recordFormat: format }, logs))
        const { address } = yield* Effect.provide(RtmpServer, context)
        yield* Effect.promise(async () => {
          const published = await ffmpegPublish(`rtmp://127.0.0.1:${address.port}/live/show`, seconds).done
          expect(published.code).toBe(0)
          await waitUntil("the recording to be finished", () => logs.some((l) => l.message.startsWith("Recorded live/show")), 15_000)
          const [file] = filesUnder(path.join(dir, "live", "show"), `.${format}`)
          expect(file).toBeDefined()
          const info = await probe(file as string)
          expect(info.streams).toEqual(["audio", "video"])
          expect(Math.abs(info.duration - seconds)).toBeLessThanOrEqual(1)
          const decoded = await run("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-i", file as string, "-f", "null", "-"], 30_000)
          expect(decoded.stderr).toBe("")
        })
      }
    }), 120_000)

  it("builds the CLI the next test runs", () => void buildCli(), 120_000)

  it("kill -9 of the server mid-recording: the file still plays up to its last fragment", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "record-kill-"))
    const port = 19_000 + Math.floor(Math.random() * 1000)
    const server = spawn("node", [path.join(root, "dist/server.mjs"), "--host", "127.0.0.1", "--port", String(port), "--http-port", "0", "--record", dir], { stdio: "ignore" })
    try {
      await waitUntil("the server to listen", async () => (await run("bash", ["-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`], 2000)).code === 0, 20_000, 100)
      const publisher = ffmpegPublish(`rtmp://127.0.0.1:${port}/live/crash`, 30)
      await waitUntil("3 s of recording", () => filesUnder(dir, ".mp4").some((f) => fs.statSync(f).size > 150_000), 20_000, 100)
      server.kill("SIGKILL")
      publisher.kill()
      const [file] = filesUnder(dir, ".mp4")
      const info = await probe(file as string)
      expect(info.streams).toEqual(["audio", "video"])
      expect(info.duration).toBeGreaterThan(2)
      const decoded = await run("ffmpeg", ["-hide_banner", "-nostdin", "-v", "error", "-i", file as string, "-f", "null", "-"], 30_000)
      expect(decoded.code).toBe(0)
    } finally {
      server.kill("SIGKILL")
    }
  }, 60_000)
})

const canMount = (() => {
  if (process.getuid?.() !== 0) return false
  const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), "mount-probe-"))
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probeDir], { stdio: "ignore" })
    execFileSync("umount", [probeDir], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

describe.runIf(canMount)("recording onto a full disk", () => {
  it.scopedLive("a 256 KiB tmpfs fills up: one error line, the recording stops, a viewer goes on", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "record-full-"))
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir])
      yield* Effect.addFinalizer(() => Effect.sync(() => execFileSync("umount", ["-l", dir])))
      const logs: Array<{ level: LogLevel.LogLevel; message: string }> = []
      const context = yield* Layer.build(recordingServer({ recordDir: Option.some(dir), publisherIdleTimeout: Duration.seconds(30) }, logs))
      const { address } = yield* Effect.provide(RtmpServer, context)
      yield* Effect.promise(async () => {
        const publisher = ffmpegPublish(`rtmp://127.0.0.1:${address.port}/live/full`, 30, ["-b:v", "1M"])
        try {
          await waitUntil("the stream to be live", async () => logs.some((l) => l.message.startsWith("Recording live/full")), 20_000)
          const viewer = await playAs(address.port, "full")
          await waitUntil("the disk to fill up", () => logs.some((l) => l.level === LogLevel.Error), 20_000)
          const errors = logs.filter((l) => l.level._tag === "Error")
          expect(errors).toHaveLength(1)
          expect(errors[0]?.message).toMatch(/Recording of live\/full stopped: cannot write .*ENOSPC/)
          const seen = viewer.events.length
          await waitUntil("the viewer to keep receiving", () => viewer.events.length > seen + 50, 10_000)
          expect(viewer.closed).toBe(false)
          viewer.close()
        } finally {
          publisher.kill()
        }
      })
    }), 60_000)
})
