/**
 * Relays against real peers: nginx with the RTMP module (started by the test with a minimal config),
 * ffmpeg publishing and playing, and effect-rtmp on both ends. Retries are fast (200 ms → 1 s).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { parseRtmpUrl } from "../../src/relay/url.js"
import { connectClient, isMedia, isStatus, openStream } from "../support/client.js"
import { makeNginx, nginxAvailable } from "../support/nginx.js"
import { freePort } from "../support/ports.js"
import { decodedFrames, decoderErrors, FPS, ffmpegPlay, ffmpegPublish, sleep } from "../support/processes.js"
import { startServer } from "../support/server.js"

const seconds = 6
const expectedFrames = seconds * FPS

const withNginx = <A, E, R>(use: (port: number, nginx: ReturnType<typeof makeNginx>) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const nginx = makeNginx(await freePort())
      await nginx.start()
      return nginx
    }),
    (nginx) => use(nginx.port, nginx),
    (nginx) => Effect.promise(() => nginx.stop())
  )

describe.runIf(nginxAvailable())("relays with nginx-rtmp and ffmpeg", () => {
  it.scopedLive("push: ffmpeg → effect-rtmp → nginx; ffmpeg plays from nginx and decodes ≥ 95 % of the frames", () =>
    withNginx((nginxPort) =>
      Effect.gen(function* () {
        const server = yield* startServer({
          pushes: [{ app: "live", name: "src", remote: parseRtmpUrl(`rtmp://127.0.0.1:${nginxPort}/live/pushed`) }]
        })
        const result = yield* Effect.promise(async () => {
          const player = ffmpegPlay(`rtmp://127.0.0.1:${nginxPort}/live/pushed`, 60_000)
          await sleep(700)
          await ffmpegPublish(`rtmp://127.0.0.1:${server.port}/live/src`, seconds).done
          return player.done // NetStream.Play.Stop from nginx ends the player
        })
        expect(decodedFrames(result.stdout)).toBeGreaterThanOrEqual(Math.ceil(0.95 * expectedFrames))
        expect(result.stderr).toMatch(/Audio: aac/)
        expect(decoderErrors(result.stderr)).toEqual([])
        const report = yield* server.health.get(`push live/src → rtmp://127.0.0.1:${nginxPort}/live/***`)
        expect(report?.status._tag).toBe("Waiting") // stopped cleanly when the source unpublished
      })
    ), 90_000)

  it.scopedLive("pull: ffmpeg → nginx → effect-rtmp; ffmpeg plays the pulled stream", () =>
    withNginx((nginxPort) =>
      Effect.gen(function* () {
        const server = yield* startServer({
          pulls: [{ remote: parseRtmpUrl(`rtmp://127.0.0.1:${nginxPort}/live/cam`), app: "live", name: "pulled" }]
        })
        const result = yield* Effect.promise(async () => {
          const player = ffmpegPlay(`rtmp://127.0.0.1:${server.port}/live/pulled`, 60_000)
          await sleep(700)
          await ffmpegPublish(`rtmp://127.0.0.1:${nginxPort}/live/cam`, seconds).done
          return player.done // the pull ends with the remote stream; local players are told and ffmpeg exits
        })
        expect(decodedFrames(result.stdout)).toBeGreaterThanOrEqual(Math.ceil(0.9 * expectedFrames))
        expect(result.stderr).toMatch(/Audio: aac/)
        expect(decoderErrors(result.stderr)).toEqual([])
      })
    ), 90_000)

  it.scopedLive("chain: nginx → pull into effect-rtmp A → push to effect-rtmp B → ffmpeg plays from B", () =>
    withNginx((nginxPort) =>
      Effect.gen(function* () {
        const b = yield* startServer()
        yield* startServer({
          pulls: [{ remote: parseRtmpUrl(`rtmp://127.0.0.1:${nginxPort}/live/origin`), app: "live", name: "mid" }],
          pushes: [{ app: "live", name: "mid", remote: parseRtmpUrl(`rtmp://127.0.0.1:${b.port}/live/end`) }]
        })
        const result = yield* Effect.promise(async () => {
          const player = ffmpegPlay(`rtmp://127.0.0.1:${b.port}/live/end`, 60_000)
          await sleep(700)
          await ffmpegPublish(`rtmp://127.0.0.1:${nginxPort}/live/origin`, seconds).done
          return player.done
        })
        expect(decodedFrames(result.stdout)).toBeGreaterThanOrEqual(Math.ceil(0.9 * expectedFrames))
        expect(decoderErrors(result.stderr)).toEqual([])
      })
    ), 90_000)

  it.scopedLive("nginx stopped mid-relay and started again: the pull reconnects and the local player resumes", () =>
    withNginx((nginxPort, nginx) =>
      Effect.gen(function* () {
        const server = yield* startServer(
          { pulls: [{ remote: parseRtmpUrl(`rtmp://127.0.0.1:${nginxPort}/live/flaky`), app: "live", name: "flaky" }], idleTimeout: Duration.seconds(3) }
        )
        const relayId = `pull rtmp://127.0.0.1:${nginxPort}/live/*** → live/flaky`
        yield* Effect.promise(async () => {
          const player = await connectClient(server.port)
          const streamId = await openStream(player)
          player.session.play(streamId, "flaky")
          const first = ffmpegPublish(`rtmp://127.0.0.1:${nginxPort}/live/flaky`, 30)
          await player.waitFor((e) => isMedia(e) && e.message.typeId === 9, 15_000)
          await sleep(1000)
          await nginx.stop() // the remote dies; so does the encoder feeding it
          await player.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 10_000)
          await first.done
          expect(player.closed).toBe(false)
          const mark = player.events.length
          await sleep(1500) // a few failed reconnects
          await nginx.start()
          const second = ffmpegPublish(`rtmp://127.0.0.1:${nginxPort}/live/flaky`, 5)
          await player.waitFor(isStatus("NetStream.Play.PublishNotify"), 20_000, mark)
          await player.waitFor((e) => isMedia(e) && e.message.typeId === 9 && e.message.payload[0] === 0x17, 10_000, mark)
          await second.done
          player.close()
        })
        const report = yield* server.health.get(relayId)
        expect(["Backoff", "Connecting", "Live"]).toContain(report?.status._tag)
        // The server never exited: a new client still connects.
        yield* Effect.promise(async () => {
          const probe = await connectClient(server.port)
          await probe.waitFor((e) => e._tag === "Connected")
          probe.close()
        })
      })
    ), 120_000)
})

describe("effect-rtmp to effect-rtmp", () => {
  it.scopedLive("push and pull between instances, with localhost as a DNS name", () =>
    Effect.gen(function* () {
      const b = yield* startServer()
      const a = yield* startServer({
        pushes: [{ app: "live", name: "src", remote: parseRtmpUrl(`rtmp://localhost:${b.port}/live/pushed`) }]
      })
      const c = yield* startServer({
        pulls: [{ remote: parseRtmpUrl(`rtmp://localhost:${a.port}/live/src`), app: "live", name: "pulled" }]
      })
      const result = yield* Effect.promise(async () => {
        const pushedPlayer = ffmpegPlay(`rtmp://127.0.0.1:${b.port}/live/pushed`, 60_000)
        const pulledPlayer = await connectClient(c.port)
        const id = await openStream(pulledPlayer)
        pulledPlayer.session.play(id, "pulled")
        await sleep(700)
        const publisher = ffmpegPublish(`rtmp://127.0.0.1:${a.port}/live/src`, 5)
        await pulledPlayer.waitFor((e) => isMedia(e) && e.message.typeId === 9 && e.message.payload[0] === 0x17, 20_000)
        await publisher.done
        await pulledPlayer.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 15_000)
        const pulledFrames = pulledPlayer.events.filter((e) => isMedia(e) && e.message.typeId === 9).length
        pulledPlayer.close()
        return { pushed: await pushedPlayer.done, pulledFrames }
      })
      expect(decodedFrames(result.pushed.stdout)).toBeGreaterThanOrEqual(Math.ceil(0.9 * 5 * FPS))
      expect(result.pulledFrames).toBeGreaterThanOrEqual(Math.ceil(0.9 * 5 * FPS))
    }), 90_000)
})
