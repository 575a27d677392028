/**
 * Interop with real third-party peers on loopback: ffmpeg publishes, ffmpeg and rtmpdump play. Our own
 * client is used only where those players cannot observe the behaviour (they exit on unpublish).
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { connectClient, isMedia, isStatus, openStream } from "../support/client.js"
import { readFlv, scriptName } from "../support/flv.js"
import { decodedFrames, decoderErrors, FPS, ffmpegPlay, ffmpegPublish, run, sleep } from "../support/processes.js"
import { testServer } from "../support/server.js"

const port = RtmpServer.pipe(Effect.map((s) => s.address.port))

layer(testServer(), { excludeTestServices: true, timeout: 30_000 })("ffmpeg and rtmpdump against the server", (it) => {
  it.effect("ffmpeg plays what ffmpeg publishes: ≥ 95 % of the frames decode, audio present, no decoder errors", () =>
    Effect.gen(function* () {
      const url = `rtmp://127.0.0.1:${yield* port}/live/decode`
      const seconds = 6
      const result = yield* Effect.promise(async () => {
        const player = ffmpegPlay(url, 60_000)
        await sleep(700) // the player waits for the publisher (Play.Start, then PublishNotify)
        const publisher = ffmpegPublish(url, seconds)
        const [played, published] = await Promise.all([player.done, publisher.done])
        return { played, published }
      })
      expect(result.published.code).toBe(0)
      const frames = decodedFrames(result.played.stdout)
      expect(frames).toBeGreaterThanOrEqual(Math.ceil(0.95 * seconds * FPS))
      expect(result.played.stderr).toMatch(/Stream #\d+:\d+: Audio: aac/)
      expect(result.played.stderr).toMatch(/Stream #\d+:\d+: Video: h264/)
      expect(decoderErrors(result.played.stderr)).toEqual([])
    }), 90_000)

  it.effect("rtmpdump plays mid-stream: its FLV starts with onMetaData and a keyframe", () =>
    Effect.gen(function* () {
      const url = `rtmp://127.0.0.1:${yield* port}/live/dump`
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "rtmp-")), "dump.flv")
      const result = yield* Effect.promise(async () => {
        const publisher = ffmpegPublish(url, 6)
        await sleep(2500)
        const dump = await run("rtmpdump", ["-q", "-v", "-r", url, "-o", out], 30_000)
        await publisher.done
        return dump
      })
      const tags = readFlv(fs.readFileSync(out))
      expect(tags.length).toBeGreaterThan(50)
      expect(scriptName(tags[0] as (typeof tags)[number])).toBe("onMetaData")
      const media = tags.filter((t) => t.type === 8 || t.type === 9)
      const firstVideoFrame = media.find((t) => t.type === 9 && t.data[1] === 1)
      expect(firstVideoFrame?.data[0]).toBe(0x17) // key frame, AVC
      const firstVideo = media.find((t) => t.type === 9)
      expect(firstVideo?.data.subarray(0, 2)).toEqual(Buffer.from([0x17, 0x00])) // sequence header first
      expect(result.code === 0 || result.code === 2).toBe(true) // 2: "incomplete" — live streams end that way
    }), 90_000)

  it.effect("a late joiner starts within 1 s at a keyframe; a second publisher is refused while the first goes on", () =>
    Effect.gen(function* () {
      const serverPort = yield* port
      const url = `rtmp://127.0.0.1:${serverPort}/live/late`
      yield* Effect.promise(async () => {
        const publisher = ffmpegPublish(url, 7)
        await sleep(2500)

        const late = await connectClient(serverPort)
        const lateStream = await openStream(late)
        const playAt = Date.now()
        late.session.play(lateStream, "late")
        const firstVideo = await late.waitFor((e) => isMedia(e) && e.message.typeId === 9 && e.message.payload[1] === 1)
        const joinMs = Date.now() - playAt
        expect(joinMs).toBeLessThan(1000)
        expect(isMedia(firstVideo) && firstVideo.message.payload[0]).toBe(0x17)
        const metadataIndex = late.events.findIndex((e) => e._tag === "Data" && e.values[0] === "onMetaData")
        const firstMediaIndex = late.events.findIndex(isMedia)
        expect(metadataIndex).toBeGreaterThanOrEqual(0)
        expect(metadataIndex).toBeLessThan(firstMediaIndex)

        const intruder = await connectClient(serverPort)
        const intruderStream = await openStream(intruder)
        intruder.session.publish(intruderStream, "late")
        const refused = await intruder.waitFor(isStatus("NetStream.Publish.BadName"))
        expect(refused.level).toBe("error")
        await intruder.waitClosed()

        const before = late.events.filter(isMedia).length
        await sleep(1000)
        expect(late.events.filter(isMedia).length).toBeGreaterThan(before + FPS / 2)
        late.close()
        expect((await publisher.done).code).toBe(0)
      })
    }), 90_000)

  it.effect("players get UnpublishNotify, stay connected, and resume when a publisher returns", () =>
    Effect.gen(function* () {
      const serverPort = yield* port
      const url = `rtmp://127.0.0.1:${serverPort}/live/again`
      yield* Effect.promise(async () => {
        const player = await connectClient(serverPort)
        const streamId = await openStream(player)
        player.session.play(streamId, "again")
        await player.waitFor(isStatus("NetStream.Play.Start"))
        await ffmpegPublish(url, 2).done
        await player.waitFor(isStatus("NetStream.Play.UnpublishNotify"))
        expect(player.events.some((e) => e._tag === "UserControl" && e.control.event === 1)).toBe(true) // StreamEOF
        const mark = player.events.length
        await sleep(300)
        expect(player.closed).toBe(false)
        const second = ffmpegPublish(url, 2)
        await player.waitFor(isStatus("NetStream.Play.PublishNotify"), 10_000, mark)
        await player.waitFor((e) => isMedia(e) && e.message.typeId === 9 && e.message.payload[0] === 0x17 && e.message.payload[1] === 1, 10_000, mark)
        await second.done
        player.close()
      })
    }), 60_000)
})

const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "rtmp-logio-"))

layer(testServer({ logIoDir: Option.some(logDir) }), { excludeTestServices: true })("--log-io", (it) => {
  it.effect("writes exactly the bytes received and sent, handshake included, flushed on close", () =>
    Effect.gen(function* () {
      const serverPort = yield* port
      const client = yield* Effect.promise(async () => {
        const client = await connectClient(serverPort)
        const streamId = await openStream(client)
        client.session.publish(streamId, "logged?key=secret")
        await client.waitFor(isStatus("NetStream.Publish.Start"))
        client.session.sendMedia(streamId, 9, 0, Buffer.from([0x17, 0x00, 0, 0, 0, 1, 2, 3]))
        client.session.sendMedia(streamId, 9, 40, Buffer.from([0x17, 0x01, 0, 0, 0, 9, 9, 9]))
        await sleep(200)
        client.socket.end()
        await client.waitClosed()
        await sleep(300)
        return client
      })
      const files = fs.readdirSync(logDir)
      const input = files.find((f) => f.endsWith(".input.rtmp"))
      const output = files.find((f) => f.endsWith(".output.rtmp"))
      expect(input).toMatch(/^[\dT-]+Z-c\d+\.input\.rtmp$/) // time and our id only, nothing from the client
      const inputBytes = fs.readFileSync(path.join(logDir, input as string))
      const outputBytes = fs.readFileSync(path.join(logDir, output as string))
      expect(inputBytes[0]).toBe(0x03)
      expect(inputBytes.subarray(1, 1537)).toEqual(client.c1)
      expect(inputBytes.length).toBe(client.bytesSent)
      expect(outputBytes.length).toBe(client.bytesReceived)
      expect(outputBytes[0]).toBe(0x03)
    }))
})
