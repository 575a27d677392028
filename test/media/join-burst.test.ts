/**
 * A viewer joining a large GOP plays it: the join burst (the cached GOP) is queued on purpose and does
 * not count against the slow-consumer limits. The link is simulated (bytes drain at a fixed rate per
 * frame interval), so the test is exact and independent of the machine's speed.
 */
import { describe, expect, it } from "@effect/vitest"
import { defaults } from "../../src/core/config.js"
import { type Sink, Viewer } from "../../src/media/viewer.js"
import { LiveStream } from "../../src/media/stream.js"

const FPS = 30
const GOP_SECONDS = 2

/** A viewer's connection on a link of `linkBitsPerSecond`: written frames queue, and drain as time advances. */
const simulatedLink = (linkBitsPerSecond: number) => {
  const state = { queued: 0, disconnected: "", frames: [] as Array<number> }
  const transport: Sink = {
    protocol: "simulated",
    write: (frame) => {
      const bytes = Buffer.from(frame.payload)
      state.queued += bytes.length
      if (bytes.length > 100) state.frames.push(bytes.readUInt32BE(bytes.length - 4)) // the frame number, last in its payload
    },
    queuedBytes: () => state.queued,
    close: (reason) => void (state.disconnected = reason)
  }
  const elapse = (seconds: number) => void (state.queued = Math.max(0, state.queued - (linkBitsPerSecond / 8) * seconds))
  return { transport, state, elapse }
}

/** Frame `n` of a `bitsPerSecond` video stream: a keyframe every GOP, the frame number in its last 4 bytes. */
const frame = (n: number, bitsPerSecond: number) => {
  const payload = Buffer.alloc(Math.round(bitsPerSecond / 8 / FPS), 0)
  payload[0] = n % (FPS * GOP_SECONDS) === 0 ? 0x17 : 0x27
  payload[1] = 1
  payload.writeUInt32BE(n, payload.length - 4)
  return payload
}

describe.each([10_000_000, 20_000_000])("joining a %i bit/s stream with a 2 s GOP", (bitsPerSecond) => {
  it("plays from the cached keyframe without skipping a frame, then keeps up", () => {
    const stream = new LiveStream("live", "big", { enabled: true, maxFrames: defaults.gopCacheMaxFrames, maxBytes: defaults.gopCacheMaxBytes })
    stream.startPublishing({ connectionId: "encoder" })
    stream.publishMedia(9, 0, Buffer.from([0x17, 0, 0, 0, 0, 1]))
    const framesPerGop = FPS * GOP_SECONDS
    // Publish one whole GOP and most of the next: the joiner arrives when the cache is nearly full.
    let n = 0
    for (; n < framesPerGop + framesPerGop - 1; n++) stream.publishMedia(9, Math.round((n * 1000) / FPS), frame(n, bitsPerSecond))
    const cachedBytes = stream.gop.reduce((sum, f) => sum + f.payload.length, 0)
    expect(cachedBytes).toBeGreaterThan(defaults.playerQueueSoftBytes) // the burst alone is over the soft limit

    // The viewer's link is 1.5× the stream: it catches up with the burst in about 4 s.
    const link = simulatedLink(1.5 * bitsPerSecond)
    const player = new Viewer(link.transport, {
      softBytes: defaults.playerQueueSoftBytes,
      hardBytes: defaults.playerQueueHardBytes,
      maxLagMillis: 15_000
    })
    stream.players.add(player)
    player.start(stream)
    const firstSent = link.state.frames[0]
    expect(firstSent).toBe(framesPerGop) // the cached keyframe
    for (const end = n + 6 * FPS; n < end; n++) {
      link.elapse(1 / FPS)
      stream.publishMedia(9, Math.round((n * 1000) / FPS), frame(n, bitsPerSecond))
    }
    expect(player.droppedFrames).toBe(0)
    expect(link.state.disconnected).toBe("")
    expect(link.state.frames).toEqual(Array.from({ length: n - framesPerGop }, (_, i) => framesPerGop + i))
  })

  it("a viewer that stops reading after joining is still cut off by the limits", () => {
    const stream = new LiveStream("live", "big", { enabled: true, maxFrames: defaults.gopCacheMaxFrames, maxBytes: defaults.gopCacheMaxBytes })
    stream.startPublishing({ connectionId: "encoder" })
    let n = 0
    for (; n < FPS * GOP_SECONDS + 30; n++) stream.publishMedia(9, Math.round((n * 1000) / FPS), frame(n, bitsPerSecond))
    const link = simulatedLink(0) // reads nothing
    const player = new Viewer(link.transport, { softBytes: defaults.playerQueueSoftBytes, hardBytes: defaults.playerQueueHardBytes, maxLagMillis: 15_000 })
    stream.players.add(player)
    player.start(stream)
    const afterBurst = link.state.queued
    for (let i = 0; i < 30 * FPS && link.state.disconnected === ""; i++, n++) stream.publishMedia(9, Math.round((n * 1000) / FPS), frame(n, bitsPerSecond))
    expect(player.droppedFrames).toBeGreaterThan(0) // skipped once the live backlog passed the soft limit
    // Bounded: the burst plus at most the soft limit of live bytes (skipping writes nothing).
    expect(link.state.queued).toBeLessThanOrEqual(afterBurst + defaults.playerQueueSoftBytes + 2 * (bitsPerSecond / 8 / FPS))
  })
})
