/**
 * A player that stops reading for 30 s costs no more than its queue budget and is dropped, while 100
 * normal players keep up. At ~4.8 Mbit/s the kernel buffers of a socket nobody reads fill within seconds;
 * then the server's own queue is what grows — up to the budget.
 */
import { expect, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { connectClient, isStatus, openStream, type TestClient } from "../support/client.js"
import { sleep } from "../support/processes.js"
import { testServer } from "../support/server.js"

const NORMAL = 100
const STALL_SECONDS = 30
const FPS = 25
const FRAME_BYTES = 24_000 // 600 KB/s

layer(
  testServer({ playerQueueSoftBytes: 512 * 1024, playerQueueHardBytes: 2 * 1024 * 1024, playerMaxLag: Duration.seconds(8) }),
  { excludeTestServices: true, timeout: 30_000 }
)("slow consumer", (it) => {
  it.effect(`a player that stops reading for ${STALL_SECONDS} s is dropped within its budget; ${NORMAL} others keep up`, () =>
    Effect.gen(function* () {
      const { address, connectionCount } = yield* RtmpServer
      const result = yield* Effect.promise(async () => {
        const publisher = await connectClient(address.port)
        const pubId = await openStream(publisher)
        publisher.session.publish(pubId, "s")
        await publisher.waitFor(isStatus("NetStream.Publish.Start"))
        /** A player that, once playing, only counts the bytes it reads (parsing 60 MB/s would swamp the test). */
        const join = async () => {
          const c = await connectClient(address.port)
          const id = await openStream(c)
          c.session.play(id, "s")
          await c.waitFor(isStatus("NetStream.Play.Start"))
          const counter = { client: c, bytes: 0 }
          c.socket.removeAllListeners("data")
          c.socket.on("data", (b: Buffer) => (counter.bytes += b.length))
          return counter
        }
        const players: Array<{ client: TestClient; bytes: number }> = []
        for (let i = 0; i < NORMAL; i += 20) players.push(...(await Promise.all(Array.from({ length: 20 }, join))))
        const slow = await join()
        // Stops reading at once: a socket that has been read from fast has let the kernel grow its receive
        // buffer (up to 32 MiB here), which would hide the stall from the server for minutes.
        slow.client.socket.pause()
        let frame = 0
        let sentBytes = 0
        const feed = setInterval(() => {
          frame++
          const payload = Buffer.alloc(FRAME_BYTES, frame & 0xff)
          payload[0] = frame % FPS === 1 ? 0x17 : 0x27
          payload[1] = 1
          sentBytes += payload.length
          publisher.session.sendMedia(pubId, 9, frame * 40, payload)
        }, 1000 / FPS)
        await sleep(1000)
        const rssBefore = process.memoryUsage().rss
        const sentBefore = sentBytes
        const bytesBefore = players.map((p) => p.bytes)
        let rssMax = rssBefore
        // A paused client does not notice being closed (it is not reading): watch the server's side.
        let slowClosedAt: number | undefined
        const start = Date.now()
        while (Date.now() - start < STALL_SECONDS * 1000) {
          await sleep(500)
          rssMax = Math.max(rssMax, process.memoryUsage().rss)
          if (slowClosedAt === undefined && (await Effect.runPromise(connectionCount)) === NORMAL + 1) slowClosedAt = Date.now() - start
        }
        clearInterval(feed)
        await sleep(500)
        const sent = sentBytes - sentBefore
        const ratios = players.map((p, i) => (p.bytes - (bytesBefore[i] as number)) / sent)
        const result = { slowClosedAt, minRatio: Math.min(...ratios), rssGrowth: rssMax - rssBefore }
        for (const p of [...players.map((p) => p.client), slow.client, publisher]) p.close()
        return result
      })
      process.stdout.write(
        `slow consumer: dropped after ${result.slowClosedAt} ms, slowest normal player got ${(100 * result.minRatio).toFixed(1)} % of the bytes, ` +
          `RSS growth ${(result.rssGrowth / 1048576).toFixed(1)} MiB\n`
      )
      expect(result.slowClosedAt).toBeDefined() // dropped while it was not reading
      expect(result.slowClosedAt).toBeLessThan(STALL_SECONDS * 1000)
      expect(result.minRatio).toBeGreaterThan(0.95) // every normal player kept up (chunk headers add a little)
      expect(result.rssGrowth).toBeLessThan(64 * 1024 * 1024) // its queue was bounded (hard limit 2 MiB)
    }), 90_000)
})
