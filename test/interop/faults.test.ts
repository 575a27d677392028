/**
 * Faults with real peers: an encoder killed with SIGKILL, a network path that silently stops forwarding
 * (a proxy), and timestamps that cross the 24-bit and 32-bit boundaries on the way through the server.
 */
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import * as net from "node:net"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { connectClient, isMedia, isStatus, openStream, playAs, publishAs } from "../support/client.js"
import { ffmpegPublish, sleep } from "../support/processes.js"
import { testServer } from "../support/server.js"

const serverOn = (overrides: Parameters<typeof testServer>[0] = {}) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(testServer(overrides))
    return yield* Effect.provide(RtmpServer, context)
  })

it.scopedLive("kill -9 of the encoder: players are told, stay, and resume when it publishes again", () =>
  Effect.gen(function* () {
    const { address } = yield* serverOn()
    const url = `rtmp://127.0.0.1:${address.port}/live/k9`
    yield* Effect.promise(async () => {
      const player = await connectClient(address.port)
      const id = await openStream(player)
      player.session.play(id, "k9")
      const first = ffmpegPublish(url, 30)
      await player.waitFor((e) => isMedia(e) && e.message.typeId === 9, 15_000)
      first.process.kill("SIGKILL")
      await player.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 10_000)
      const mark = player.events.length
      const second = ffmpegPublish(url, 3)
      await player.waitFor(isStatus("NetStream.Play.PublishNotify"), 10_000, mark)
      await player.waitFor((e) => isMedia(e) && e.message.typeId === 9 && e.message.payload[0] === 0x17, 10_000, mark)
      expect(player.closed).toBe(false)
      await second.done
      player.close()
    })
  }), 60_000)

/** A TCP proxy that can be told to stop forwarding while keeping both connections open. */
const blackholeProxy = (targetPort: number) =>
  Effect.acquireRelease(
    Effect.async<{ port: number; cut: () => void; close: () => void }>((resume) => {
      let forwarding = true
      const sockets: Array<net.Socket> = []
      const server = net.createServer((inbound) => {
        const outbound = net.connect({ host: "127.0.0.1", port: targetPort })
        sockets.push(inbound, outbound)
        for (const s of [inbound, outbound]) s.on("error", () => {})
        inbound.on("data", (d) => forwarding && outbound.write(d))
        outbound.on("data", (d) => forwarding && inbound.write(d))
      })
      server.listen(0, "127.0.0.1", () =>
        resume(
          Effect.succeed({
            port: (server.address() as net.AddressInfo).port,
            cut: () => void (forwarding = false),
            close: () => {
              sockets.forEach((s) => s.destroy())
              server.close()
            }
          })
        )
      )
    }),
    (proxy) => Effect.sync(() => proxy.close())
  )

it.scopedLive("a network path that stops forwarding: the ping timeout drops the dead publisher and frees its key", () =>
  Effect.gen(function* () {
    const { address, connectionCount } = yield* serverOn({ pingInterval: Duration.seconds(1), pingTimeout: Duration.seconds(1) })
    const proxy = yield* blackholeProxy(address.port)
    yield* Effect.promise(async () => {
      const player = await connectClient(address.port)
      const id = await openStream(player)
      player.session.play(id, "cut")
      const publisher = ffmpegPublish(`rtmp://127.0.0.1:${proxy.port}/live/cut`, 30)
      await player.waitFor((e) => isMedia(e) && e.message.typeId === 9, 15_000)
      proxy.cut()
      const cutAt = Date.now()
      await player.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 10_000)
      expect(Date.now() - cutAt).toBeLessThan(6000) // silence 1 s + ping, then 1 s timeout, plus scheduling
      const deadline = Date.now() + 5000
      while ((await Effect.runPromise(connectionCount)) > 1 && Date.now() < deadline) await sleep(100)
      expect(await Effect.runPromise(connectionCount)).toBe(1) // only the player is left
      const mark = player.events.length
      const replacement = ffmpegPublish(`rtmp://127.0.0.1:${address.port}/live/cut`, 3)
      await player.waitFor(isStatus("NetStream.Play.PublishNotify"), 10_000, mark)
      await replacement.done
      publisher.kill()
      player.close()
    })
  }), 60_000)

it.scopedLive("timestamps crossing 0xFFFFFF and 2^32 reach players unchanged (extended timestamps)", () =>
  Effect.gen(function* () {
    const { address } = yield* serverOn()
    yield* Effect.promise(async () => {
      const { client: publisher, streamId: pubId } = await publishAs(address.port, "clock")
      const player = await playAs(address.port, "clock")
      const times = [0xfffff0 - 40, 0xfffff0, 0xffffff, 0x1000000 + 20, 0x7fffffff, 0xffffffd8, 0xfffffffe, 8, 48]
      for (const [i, t] of times.entries()) {
        // big frames so every one spans several chunks: the extended timestamp must repeat on type 3
        const frame = Buffer.alloc(10_000, i)
        frame[0] = i === 0 ? 0x17 : 0x27
        frame[1] = 1
        publisher.session.sendMedia(pubId, 9, t, frame)
      }
      await player.waitFor((e) => isMedia(e) && e.message.timestamp === 48, 10_000)
      const received = player.events.filter(isMedia).map((e) => (isMedia(e) ? e.message.timestamp : -1))
      expect(received).toEqual(times)
      publisher.close()
      player.close()
      await sleep(50)
    })
  }))
