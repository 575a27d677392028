/** A push whose remote stops reading is dropped and retried; the local publisher and players never notice. */
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { pushId } from "../../src/relay/relays.js"
import { parseRtmpUrl } from "../../src/relay/url.js"
import { isMedia, playAs, publishAs } from "../support/client.js"
import { sleep } from "../support/processes.js"
import { fakeRtmpServer } from "../support/fake-server.js"
import { startServer } from "../support/server.js"

/** Accepts connect and publish like a real server, then stops reading its socket. */
const stallingRemote = fakeRtmpServer((request, session, socket) => {
  if (request._tag === "Connect") session.acceptConnect(request.transactionId, 0, request.app ?? "")
  if (request._tag === "Publish") {
    session.sendStatus(request.streamId, "status", "NetStream.Publish.Start", "ok")
    socket.pause() // and never read again
    return
  }
  session.resume()
})

it.scopedLive("a stalled push remote is dropped and retried while local players keep receiving", () =>
  Effect.gen(function* () {
    const remote = yield* stallingRemote
    const target = parseRtmpUrl(`rtmp://127.0.0.1:${remote.port}/live/stuck`)
    const server = yield* startServer(
      { pushes: [{ app: "live", name: "src", remote: target }] },
      { playerQueueSoftBytes: 256 * 1024, playerQueueHardBytes: 1024 * 1024, playerMaxLag: Duration.seconds(1) }
    )
    const id = pushId("live", "src", target)
    const dropped = yield* server.health
      .waitFor(id, (status) => status._tag === "Backoff" && status.lastError.startsWith("SlowRemote"))
      .pipe(Effect.timeout("15 seconds"), Effect.fork)
    yield* Effect.promise(async () => {
      const { client: publisher, streamId } = await publishAs(server.port, "src")
      const player = await playAs(server.port, "src")
      let n = 0
      const timer = setInterval(() => {
        for (let i = 0; i < 2; i++) {
          n++
          const frame = Buffer.alloc(16 * 1024, n & 0xff)
          frame[0] = n % 25 === 1 ? 0x17 : 0x27
          frame[1] = 1
          publisher.session.sendMedia(streamId, 9, n * 10, frame)
        }
      }, 10)
      await sleep(4000)
      clearInterval(timer)
      await sleep(200)
      const received = player.events.filter(isMedia).length
      expect(received).toBeGreaterThan(n * 0.9) // the player saw (nearly) everything
      expect(publisher.closed).toBe(false)
      expect(player.closed).toBe(false)
      publisher.close()
      player.close()
    })
    const status = yield* Fiber.join(dropped)
    expect(status._tag).toBe("Backoff")
  }), 30_000)
