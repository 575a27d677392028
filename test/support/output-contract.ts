/**
 * The output contract kit: what every output must do with a live stream, checked on its real sink and
 * wire format (decoded back to tags). Headers come first, media starts on a keyframe, timestamps stay
 * monotonic across a takeover, a stalled reader's queue stays bounded, and after unpublish/republish a
 * viewer starts cleanly again (on the same connection, or on a new one for outputs that end there).
 */
import { describe, expect, it } from "@effect/vitest"
import { amfObject } from "../../src/protocol/amf0.js"
import { LiveStream } from "../../src/media/stream.js"
import type { Viewer } from "../../src/media/viewer.js"

/** One tag as the client sees it after decoding the output's bytes. */
export interface SeenTag {
  readonly typeId: number
  readonly timestamp: number
  readonly payload: Uint8Array
}

export interface AttachedOutput {
  readonly viewer: Viewer
  /** Everything the client received so far, decoded. */
  tags(): ReadonlyArray<SeenTag>
  /** The client stops reading: from now on written bytes stay queued. */
  stall(): void
  queuedBytes(): number
  /** True once the output ended the connection. */
  ended(): boolean
}

export interface OutputUnderTest {
  readonly name: string
  /** A viewer of `stream` through this output, joined and started. */
  attach(stream: LiveStream): AttachedOutput
  /** What the output does when the publisher stops: tell the client and go on, or end the connection. */
  readonly onUnpublish: "continues" | "ends"
}

export const limits = { softBytes: 64 * 1024, hardBytes: 256 * 1024, maxLagMillis: 60_000 }

const VIDEO_HEADER = Buffer.from([0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f])
const AUDIO_HEADER = Buffer.from([0xaf, 0x00, 0x12, 0x10])
const frame = (key: boolean, n: number, size = 200) => {
  const payload = Buffer.alloc(size, n & 0xff)
  payload[0] = key ? 0x17 : 0x27
  payload[1] = 1
  return payload
}

const isVideoHeader = (t: SeenTag) => t.typeId === 9 && t.payload[1] === 0
const isAudioHeader = (t: SeenTag) => t.typeId === 8 && t.payload[1] === 0
const isMedia = (t: SeenTag) => (t.typeId === 9 || t.typeId === 8) && t.payload[1] !== 0

/** A publisher on `stream` sending 25 fps video with a keyframe every 25 frames, and audio. */
const publisher = (stream: LiveStream, start = 0) => {
  let n = 0
  return {
    headers: () => {
      stream.setMetadata(amfObject({ width: 320, height: 240 }))
      stream.publishMedia(9, start, Buffer.from(VIDEO_HEADER))
      stream.publishMedia(8, start, Buffer.from(AUDIO_HEADER))
    },
    frames: (count: number, size = 200) => {
      for (let i = 0; i < count; i++, n++) {
        const at = start + n * 40
        stream.publishMedia(9, at, frame(n % 25 === 0, n, size))
        stream.publishMedia(8, at + 1, Buffer.from([0xaf, 0x01, n & 0xff]))
      }
    }
  }
}

const newStream = () => {
  const stream = new LiveStream("live", "contract", { enabled: true, maxFrames: 1000, maxBytes: 1 << 20 })
  return stream
}

/** Checks `tags` start the way every player needs: metadata, decoder configurations, then a keyframe. */
const expectCleanStart = (tags: ReadonlyArray<SeenTag>) => {
  const firstMedia = tags.findIndex(isMedia)
  expect(firstMedia).toBeGreaterThan(0)
  const before = tags.slice(0, firstMedia)
  expect(before.some((t) => t.typeId === 18)).toBe(true)
  expect(before.some(isVideoHeader)).toBe(true)
  expect(before.some(isAudioHeader)).toBe(true)
  const firstVideo = tags.find((t) => t.typeId === 9 && isMedia(t))
  expect(firstVideo?.payload[0]).toBe(0x17)
}

export const outputContract = (output: OutputUnderTest) =>
  describe(`output contract: ${output.name}`, () => {
    it("a viewer joining mid-GOP gets metadata and decoder configurations first, then media from the cached keyframe", () => {
      const stream = newStream()
      stream.startPublishing({ connectionId: "p" })
      const source = publisher(stream)
      source.headers()
      source.frames(37)
      const client = output.attach(stream)
      source.frames(10)
      expectCleanStart(client.tags())
      const firstVideo = client.tags().find((t) => t.typeId === 9 && isMedia(t))
      expect(firstVideo?.timestamp).toBe(25 * 40) // the cached GOP's keyframe, not the next one
    })

    it("a viewer that comes before the publisher starts on its first keyframe", () => {
      const stream = newStream()
      const client = output.attach(stream)
      stream.startPublishing({ connectionId: "p" })
      const source = publisher(stream, 1000)
      source.headers()
      source.frames(30)
      expectCleanStart(client.tags())
    })

    it("timestamps stay monotonic across a publisher takeover", () => {
      const stream = newStream()
      stream.startPublishing({ connectionId: "old" })
      const first = publisher(stream, 5000)
      first.headers()
      first.frames(30)
      const client = output.attach(stream)
      first.frames(10)
      stream.takeOver({ connectionId: "new" })
      const second = publisher(stream, 0) // the new encoder's clock starts at 0
      second.headers()
      second.frames(30)
      const media = client.tags().filter((t) => t.typeId === 9 && isMedia(t))
      for (let i = 1; i < media.length; i++) expect((media[i] as SeenTag).timestamp).toBeGreaterThanOrEqual((media[i - 1] as SeenTag).timestamp)
      expect(client.ended()).toBe(false)
    })

    it("a stalled reader skips and its queue stays bounded; the publisher is never held back", () => {
      const stream = newStream()
      stream.startPublishing({ connectionId: "p" })
      const source = publisher(stream)
      source.headers()
      source.frames(5)
      const client = output.attach(stream)
      client.stall()
      source.frames(2000, 2000)
      expect(client.viewer.droppedFrames).toBeGreaterThan(0)
      expect(client.queuedBytes()).toBeLessThanOrEqual(limits.hardBytes + 64 * 1024)
      expect(stream.framesIn).toBe(2 + 2005 * 2) // the publisher was never held back
    })

    it("unpublish, then republish: the viewer starts cleanly again", () => {
      const stream = newStream()
      stream.startPublishing({ connectionId: "p1" })
      const first = publisher(stream)
      first.headers()
      first.frames(30)
      let client = output.attach(stream)
      stream.stopPublishing()
      if (output.onUnpublish === "ends") {
        expect(client.ended()).toBe(true)
        stream.players.delete(client.viewer)
        client = output.attach(stream)
      } else {
        expect(client.ended()).toBe(false)
      }
      const seenBefore = client.tags().length
      stream.startPublishing({ connectionId: "p2" })
      const second = publisher(stream)
      second.headers()
      second.frames(30)
      expectCleanStart(client.tags().slice(seenBefore))
    })
  })
