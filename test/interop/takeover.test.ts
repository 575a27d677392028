/**
 * An encoder whose network dies (frozen with SIGSTOP: its TCP connection stays open, nothing is sent)
 * reconnects with the same key: after the grace period the new connection takes over, the player that
 * never disconnected gets media from the new keyframe on a monotonic timeline.
 */
import { expect, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { connectClient, isMedia, isStatus, openStream } from "../support/client.js"
import { ffmpegPublish, sleep } from "../support/processes.js"
import { testServer } from "../support/server.js"

layer(testServer({ publisherTakeoverGrace: Duration.seconds(2) }), { excludeTestServices: true, timeout: 30_000 })("publisher takeover", (it) => {
  it.effect("a reconnecting ffmpeg takes over from its frozen predecessor; the player stays and time moves forward", () =>
    Effect.gen(function* () {
      const port = (yield* RtmpServer).address.port
      const url = `rtmp://127.0.0.1:${port}/live/cam`
      yield* Effect.promise(async () => {
        const player = await connectClient(port)
        const id = await openStream(player)
        player.session.play(id, "cam")
        const first = ffmpegPublish(url, 30)
        await player.waitFor((e) => isMedia(e) && e.message.typeId === 9 && e.message.payload[1] === 1, 15_000)
        await sleep(1500)
        first.process.kill("SIGSTOP") // the network "dies": no FIN, no data
        const frozenAt = player.events.length
        await sleep(2500) // longer than the grace period
        const second = ffmpegPublish(url, 4)
        // The same encoder settings: the player already has this decoder configuration, so it is not repeated.
        await player.waitFor((e) => isMedia(e) && e.message.typeId === 9 && e.message.payload[0] === 0x17 && e.message.payload[1] === 1, 15_000, frozenAt)
        const codes = player.events.filter((e) => e._tag === "Status").map((e) => (e._tag === "Status" ? e.code : ""))
        expect(codes).not.toContain("NetStream.Play.UnpublishNotify")
        expect(player.closed).toBe(false)
        const videoTimes = player.events
          .filter((e) => isMedia(e) && e.message.typeId === 9 && e.message.payload[1] === 1)
          .map((e) => (isMedia(e) ? e.message.timestamp : 0))
        for (let i = 1; i < videoTimes.length; i++) expect(videoTimes[i]).toBeGreaterThanOrEqual((videoTimes[i - 1] as number) - 100) // B-frame-free: monotonic up to jitter
        await second.done
        await player.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 10_000)
        first.process.kill("SIGKILL")
        player.close()
      })
    }), 60_000)
})
