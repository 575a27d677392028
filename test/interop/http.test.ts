/**
 * The HTTP port against real clients: curl, ffmpeg and ffprobe read HTTP-FLV; a real Prometheus text
 * parser reads /metrics; a curl frozen with SIGSTOP is dropped by the viewer policy while another viewer
 * keeps receiving.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { expectPlayableFlv, httpGet } from "../support/http.js"
import { syntheticPublisher } from "../support/client.js"
import { waitUntil } from "../support/poll.js"
import { decodedFrames, decoderErrors, FPS, ffmpegPublish, run, start } from "../support/processes.js"
import { startHttpServer } from "../support/server.js"

const whenPlayable = (url: string) => waitUntil(`${url} to serve media`, async () => (await httpGet(url, 300)).body.length > 1000, 20_000, 200)

describe("HTTP-FLV with real clients", () => {
  it.scopedLive("curl gets a valid FLV; ffmpeg decodes 5 s without errors; ffprobe sees one video and one audio stream", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer()
      const publisher = ffmpegPublish(`rtmp://127.0.0.1:${server.rtmpPort}/live/cam`, 40)
      yield* Effect.addFinalizer(() => Effect.sync(() => publisher.kill()))
      const url = `${server.base}/live/cam.flv`
      yield* Effect.promise(async () => {
        await whenPlayable(url)
        const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "http-flv-")), "curl.flv")
        await run("curl", ["-s", "--max-time", "3", "-o", out, url], 10_000)
        expectPlayableFlv(fs.readFileSync(out))

        const decoded = await run("ffmpeg", ["-hide_banner", "-nostdin", "-v", "info", "-i", url, "-t", "5", "-progress", "pipe:1", "-f", "null", "-"], 30_000)
        expect(decoded.code).toBe(0)
        expect(decodedFrames(decoded.stdout)).toBeGreaterThanOrEqual(Math.floor(0.95 * 5 * FPS))
        expect(decoderErrors(decoded.stderr)).toEqual([])

        const probe = await run("ffprobe", ["-v", "warning", "-show_streams", "-of", "json", url], 30_000)
        const streams = (JSON.parse(probe.stdout) as { streams: Array<{ codec_type: string; codec_name: string }> }).streams
        expect(streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort()).toEqual(["audio:aac", "video:h264"])
        expect(probe.stderr).not.toMatch(/Unsupported codec/)
      })
    }), 90_000)

  it.scopedLive("/metrics parses with the Prometheus text parser and has the expected families", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer()
      yield* Effect.promise(async () => {
        const publisher = await syntheticPublisher(server.rtmpPort, "m")
        const viewer = httpGet(`${server.base}/live/m.flv`, 1500)
        try {
          await new Promise((r) => setTimeout(r, 800))
          const text = await (await fetch(`${server.base}/metrics`)).text()
          const script = [
            "import sys, json",
            "from prometheus_client.parser import text_string_to_metric_families",
            "families = {f.name: [(s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(sys.stdin.read())}",
            "print(json.dumps(families))"
          ].join("\n")
          const parsed = await new Promise<string>((resolve, reject) => {
            // Debian's python3 has python3-prometheus-client; elsewhere (the nix shell) the one on PATH does.
            const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3"
            const child = start(python, ["-c", script], 20_000, { stdin: true })
            child.process.stdin?.end(text)
            void child.done.then((r) => (r.code === 0 ? resolve(r.stdout) : reject(new Error(r.stderr))))
          })
          const families = JSON.parse(parsed) as Record<string, Array<[Record<string, string>, number]>>
          for (const name of ["effect_rtmp_connections", "effect_rtmp_viewers", "effect_rtmp_stream_received_bytes", "effect_rtmp_stream_frames_dropped", "process_cpu_seconds", "process_resident_memory_bytes", "nodejs_eventloop_lag_p99_seconds", "rtmp_connections"]) {
            expect(Object.keys(families)).toContain(name)
          }
          const viewers = families["effect_rtmp_viewers"] ?? []
          expect(viewers.find(([labels]) => labels.protocol === "http-flv")?.[1]).toBe(1)
          const received = families["effect_rtmp_stream_received_bytes"] ?? []
          expect(received.find(([labels]) => labels.name === "m")?.[1]).toBeGreaterThan(0)
        } finally {
          await viewer
          publisher.stop()
          publisher.client.close()
        }
      })
    }), 60_000)

  it.scopedLive("a stalled HTTP viewer (curl frozen with SIGSTOP) is dropped; another viewer keeps receiving", () =>
    Effect.gen(function* () {
      const server = yield* startHttpServer({
        playerQueueSoftBytes: 256 * 1024,
        playerQueueHardBytes: 1024 * 1024,
        playerMaxLag: Duration.seconds(3)
      })
      yield* Effect.promise(async () => {
        const publisher = await syntheticPublisher(server.rtmpPort, "big", 20_000) // ~8 Mbit/s
        const frozen = start("curl", ["-s", "-o", "/dev/null", `${server.base}/live/big.flv`], 60_000)
        let bytes = 0
        const healthy = new Promise<void>((resolve) => {
          import("node:http").then((http) =>
            http.get(`${server.base}/live/big.flv`, (response) => {
              response.on("data", (c: Buffer) => (bytes += c.length))
              response.on("close", () => resolve())
            })
          )
        })
        try {
          const viewersOf = async () =>
            ((await (await fetch(`${server.base}/api/v1/connections`)).json()) as { connections: Array<{ protocol: string }> }).connections.filter((c) => c.protocol === "http-flv").length
          await waitUntil("both HTTP viewers to be connected", async () => (await viewersOf()) === 2)
          frozen.process.kill("SIGSTOP")
          await waitUntil("the frozen viewer to be dropped", async () => (await viewersOf()) === 1, 30_000, 250)
          const before = bytes
          await waitUntil("the healthy viewer to keep receiving", () => bytes > before + 1_000_000, 10_000)
        } finally {
          frozen.process.kill("SIGKILL")
          publisher.stop()
          publisher.client.close()
          await Promise.race([healthy, new Promise((r) => setTimeout(r, 2000))])
        }
      })
    }), 90_000)
})
