/**
 * Enhanced RTMP end to end. ffmpeg 5.1 encodes HEVC (libx265), AV1 (libaom), VP9 (libvpx) and Opus into
 * fragmented MP4; our client publishes them as E-RTMP; a player that declared the codecs (connect
 * `fourCcList`) receives byte-identical tags, and the frames decoded from what it received (rebuilt as
 * Annex-B, an OBU stream, IVF) have the source's `framemd5`. A legacy player (no fourCcList) gets only
 * legacy-coded media. Multitrack in OBS's layout (track 0 legacy AVC, track 1 E-RTMP HEVC) reaches a
 * player that declared both codecs and Multitrack whole, and a legacy player — ours and ffmpeg 5.1 — only
 * as track 0.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { AmfValue } from "../../src/protocol/amf0.js"
import { CapsEx, parseExAudio, parseExVideo } from "../../src/protocol/ertmp.js"
import { MediaFrame } from "../../src/media/frame.js"
import { Fmp4Muxer } from "../../src/media/fmp4-muxer.js"
import { isMedia, playAs, publishAs, type TestClient } from "../support/client.js"
import { av1Obus, encodeFixture, type FixtureCodec, frameMd5s, hevcAnnexB, type Tag, toTags, vp9Ivf } from "../support/ertmp-fixtures.js"
import { waitUntil } from "../support/poll.js"
import { decodedFrames, decoderErrors, ffmpegPlay } from "../support/processes.js"
import { startServer } from "../support/server.js"

const ERTMP_PLAYER: ReadonlyArray<readonly [string, AmfValue]> = [
  ["fourCcList", ["avc1", "hvc1", "av01", "vp09", "mp4a", "Opus"]],
  ["capsEx", CapsEx.Multitrack]
]

/** A legacy AAC header and frame after the E-RTMP media: what a legacy player of the stream still gets. */
const AAC_TAIL: ReadonlyArray<Tag> = [
  { typeId: 8, timestamp: 2000, payload: Buffer.from([0xaf, 0x00, 0x12, 0x10]) },
  { typeId: 8, timestamp: 2000, payload: Buffer.from([0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c]) }
]

const media = (client: TestClient) => client.events.filter(isMedia).map((e) => e.message)

const publishAll = async (port: number, name: string, tags: ReadonlyArray<Tag>) => {
  const { client, streamId } = await publishAs(port, name)
  for (const tag of tags) client.session.sendMedia(streamId, tag.typeId, tag.timestamp, tag.payload)
  return client
}

const sameTags = (received: ReturnType<typeof media>, sent: ReadonlyArray<Tag>) => {
  expect(received.length).toBe(sent.length)
  received.forEach((message, i) => {
    const tag = sent[i] as Tag
    expect([message.typeId, message.timestamp]).toEqual([tag.typeId, tag.timestamp])
    expect(Buffer.compare(Buffer.from(message.payload), tag.payload), `tag ${i}`).toBe(0)
  })
}

const cases: ReadonlyArray<{ codec: FixtureCodec; rebuild: (config: Buffer, frames: Array<Buffer>) => { args: Array<string>; bytes: Buffer } }> = [
  { codec: "hevc", rebuild: (config, frames) => ({ args: ["-f", "hevc"], bytes: hevcAnnexB(config, frames) }) },
  { codec: "av1", rebuild: (_config, frames) => ({ args: ["-f", "obu"], bytes: av1Obus(frames) }) },
  { codec: "vp9", rebuild: (_config, frames) => ({ args: ["-f", "ivf"], bytes: vp9Ivf(frames, 160, 120) }) }
]

describe("Enhanced RTMP end to end", () => {
  for (const { codec, rebuild } of cases) {
    it.scopedLive(`${codec}: byte-identical tags to a player that declared it, the source's framemd5, nothing but the AAC for a legacy player`, () =>
      Effect.gen(function* () {
        const server = yield* startServer()
        const fixture = yield* Effect.promise(() => encodeFixture(codec))
        const tags = toTags(fixture)
        const all = [...tags, ...AAC_TAIL]
        const { enhanced, legacy } = yield* Effect.promise(async () => {
          const enhanced = await playAs(server.port, codec, ERTMP_PLAYER)
          const legacy = await playAs(server.port, codec)
          const publisher = await publishAll(server.port, codec, all)
          await waitUntil("every tag at the E-RTMP player", () => media(enhanced).length >= all.length, 20_000)
          await waitUntil("the AAC at the legacy player", () => media(legacy).length >= 2, 20_000)
          publisher.close()
          return { enhanced, legacy }
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => (enhanced.close(), legacy.close())))
        sameTags(media(enhanced), all)
        sameTags(media(legacy), AAC_TAIL)

        const received = media(enhanced).slice(0, tags.length).map((m) => parseExVideo(m.payload).tracks[0]?.data ?? new Uint8Array())
        const [config, ...frames] = received.map((d) => Buffer.from(d))
        const rebuilt = rebuild(config ?? Buffer.alloc(0), frames)
        const file = path.join(path.dirname(fixture.file), `received.${codec}`)
        fs.writeFileSync(file, rebuilt.bytes)
        const [source, decoded] = yield* Effect.promise(() => Promise.all([frameMd5s(["-i", fixture.file], "v"), frameMd5s([...rebuilt.args, "-i", file], "v")]))
        expect(source.length).toBeGreaterThanOrEqual(45)
        expect(decoded).toEqual(source)
      }), 240_000)
  }

  it.scopedLive("opus: byte-identical tags; the OpusHead and packets decode to the source's audio", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const fixture = yield* Effect.promise(() => encodeFixture("opus"))
      const tags = toTags(fixture)
      const player = yield* Effect.promise(async () => {
        const player = await playAs(server.port, "opus", ERTMP_PLAYER)
        const legacy = await playAs(server.port, "opus")
        const publisher = await publishAll(server.port, "opus", [...tags, ...AAC_TAIL])
        await waitUntil("every tag", () => media(player).length >= tags.length + 2, 20_000)
        await waitUntil("the AAC at the legacy player", () => media(legacy).length >= 2, 20_000)
        sameTags(media(legacy), AAC_TAIL)
        publisher.close()
        legacy.close()
        return player
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => player.close()))
      const received = media(player).slice(0, tags.length)
      sameTags(received, tags)
      expect(parseExAudio(received[0]?.payload ?? new Uint8Array()).tracks[0]?.fourCc).toBe("Opus")
      // Back into MP4 with our muxer (Opus has no raw container ffmpeg reads), then decoded by ffmpeg.
      const muxer = new Fmp4Muxer()
      for (const m of received) muxer.push(new MediaFrame(8, m.timestamp, m.payload, false, m === received[0]))
      const file = path.join(path.dirname(fixture.file), "received.mp4")
      fs.writeFileSync(file, Buffer.concat([muxer.init() ?? new Uint8Array(), muxer.flush() ?? new Uint8Array()]))
      const [source, decoded] = yield* Effect.promise(() => Promise.all([frameMd5s(["-i", fixture.file], "a"), frameMd5s(["-i", file], "a")]))
      expect(source.length).toBeGreaterThan(50)
      // The muxer holds the last packet back (its duration is known only from the next one): all but that one.
      expect(decoded.length).toBe(source.length - 1)
      expect(decoded).toEqual(source.slice(0, decoded.length))
    }), 240_000)

  it.scopedLive("multitrack, OBS's layout: track 0 legacy AVC + track 1 E-RTMP HEVC; both to a player that declared them, track 0 to legacy players (ours and ffmpeg 5.1)", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const [avc, hevc] = yield* Effect.promise(() => Promise.all([encodeFixture("h264"), encodeFixture("hevc")]))
      const track0 = toTags(avc, { legacy: true })
      const track1 = toTags(hevc, { trackId: 1 })
      // Interleaved in time, as an encoder sends them (stable: track 0 first at equal times).
      const all = [...track0.map((t, i) => ({ t, k: t.timestamp * 2, i })), ...track1.map((t, i) => ({ t, k: t.timestamp * 2 + 1, i: i + 10_000 }))]
        .sort((a, b) => a.k - b.k || a.i - b.i)
        .map((e) => e.t)
      expect(track1[1]?.payload.subarray(0, 2)).toEqual(Buffer.from([0x96, 0x01])) // key, Multitrack | OneTrack, CodedFrames
      const result = yield* Effect.promise(async () => {
        const enhanced = await playAs(server.port, "multi", ERTMP_PLAYER)
        const legacy = await playAs(server.port, "multi")
        const ffmpeg = ffmpegPlay(`rtmp://127.0.0.1:${server.port}/live/multi`, 60_000, { output: ["-map", "0"] })
        await waitUntil("three players waiting", async () => ((await Effect.runPromise(server.registry.lookup("live", "multi")))?.players.size ?? 0) >= 3, 20_000)
        const publisher = await publishAll(server.port, "multi", all)
        await waitUntil("every tag at the multitrack player", () => media(enhanced).length >= all.length, 20_000)
        await waitUntil("track 0 at the legacy player", () => media(legacy).length >= track0.length, 20_000)
        publisher.close() // ffmpeg ends on the unpublish
        const played = await ffmpeg.done
        enhanced.close()
        legacy.close()
        return { enhanced: media(enhanced), legacy: media(legacy), played }
      })
      sameTags(result.enhanced, all)
      sameTags(result.legacy, track0)
      expect(decodedFrames(result.played.stdout)).toBe(avc.track.samples.length)
      expect(decoderErrors(result.played.stderr)).toEqual([])
      const input = result.played.stderr.split(/^Output #0/m)[0] ?? ""
      expect(input.match(/Stream #0:\d+: Video: (\w+)/g)).toEqual([expect.stringMatching(/Video: h264$/)])
    }), 240_000)
})
