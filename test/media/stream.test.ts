import { describe, expect, it } from "@effect/vitest"
import { amfObject, type AmfObject, decodeAll } from "../../src/protocol/amf0.js"
import { ChunkReader, type RtmpMessage } from "../../src/protocol/chunk-reader.js"
import { Viewer, type ViewerLimits } from "../../src/media/viewer.js"
import { RtmpPlaySink, type PlayerAnnouncements, type RtmpTransport } from "../../src/rtmp/sinks.js"
import { LiveStream } from "../../src/media/stream.js"

const CHUNK = 4096
const limits = { softBytes: 1000, hardBytes: 5000, maxLagMillis: 60_000 }

/** A player transport that decodes what it is sent and lets the test set the queued byte count. */
const fakeTransport = () => {
  const reader = new ChunkReader()
  reader.chunkSize = CHUNK
  const messages: Array<RtmpMessage> = []
  const statuses: Array<string> = []
  const controls: Array<number> = []
  const state = { queued: 0, disconnected: "" }
  const announce: PlayerAnnouncements = {
    status: (_id, _level, code) => void statuses.push(code),
    userControl: (c) => void controls.push(c.event)
  }
  const transport: RtmpTransport & { announce: PlayerAnnouncements } = {
    write: (bytes) => void reader.push(bytes, (m) => void messages.push({ ...m, payload: Buffer.from(m.payload) })),
    queuedBytes: () => state.queued,
    disconnect: (reason) => void (state.disconnected = reason),
    announce
  }
  return { transport, messages, statuses, controls, state }
}

/** An RTMP player of `stream` on message stream 1: a `Viewer` with the RTMP play sink, joined and started. */
const attach = (stream: LiveStream, transport: RtmpTransport & { announce: PlayerAnnouncements }, viewerLimits: ViewerLimits) => {
  const viewer = new Viewer(new RtmpPlaySink(1, CHUNK, transport, transport.announce), viewerLimits)
  stream.players.add(viewer)
  viewer.start(stream)
  return viewer
}

const VIDEO_HEADER = Buffer.from([0x17, 0x00, 0, 0, 0, 1])
const AUDIO_HEADER = Buffer.from([0xaf, 0x00, 0x12, 0x10])
const key = (n: number) => Buffer.from([0x17, 0x01, 0, 0, 0, n])
const inter = (n: number) => Buffer.from([0x27, 0x01, 0, 0, 0, n])
const audio = (n: number) => Buffer.from([0xaf, 0x01, n])

const kinds = (messages: ReadonlyArray<RtmpMessage>) =>
  messages.map((m) => {
    if (m.typeId === 18) return String(decodeAll(m.payload)[0])
    const b0 = m.payload[0]
    const b1 = m.payload[1]
    if (m.typeId === 8) return b1 === 0 ? "ash" : `a${m.payload[2]}`
    return b1 === 0 ? "vsh" : `${b0 === 0x17 ? "K" : "i"}${m.payload[5]}`
  })

const newStream = (gop = true) => new LiveStream("live", "s", { enabled: gop, maxFrames: 100, maxBytes: 10_000 })

const publishGop = (stream: LiveStream, start: number) => {
  stream.publishMedia(9, start, key(start))
  stream.publishMedia(8, start + 1, audio(start))
  stream.publishMedia(9, start + 40, inter(start + 1))
  stream.publishMedia(9, start + 80, inter(start + 2))
}

describe("LiveStream and Viewer (RTMP play sink)", () => {
  it("a late joiner gets metadata, sequence headers, then the cached GOP from its keyframe", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "p" })
    stream.setMetadata(amfObject({ width: 320, custom: "kept" }))
    stream.publishMedia(9, 0, VIDEO_HEADER)
    stream.publishMedia(8, 0, AUDIO_HEADER)
    publishGop(stream, 0)
    publishGop(stream, 200)
    const { transport, messages } = fakeTransport()
    attach(stream, transport, limits)
    expect(kinds(messages)).toEqual(["onMetaData", "vsh", "ash", "K200", "a200", "i201", "i202"])
    // Metadata at 0 (libavformat reads onMetaData as stream properties only at 0); headers at the GOP's time.
    expect(messages.slice(0, 3).map((m) => m.timestamp)).toEqual([0, 200, 200])
    const metadata = decodeAll(messages[0]?.payload as Uint8Array)[1] as AmfObject
    expect([...metadata.properties.keys()]).toEqual(["width", "custom"])
    stream.publishMedia(9, 320, inter(7))
    expect(kinds(messages).at(-1)).toBe("i7")
  })

  it("without a GOP cache a joiner waits for the next keyframe (audio too)", () => {
    const stream = newStream(false)
    stream.startPublishing({ connectionId: "p" })
    stream.publishMedia(9, 0, VIDEO_HEADER)
    publishGop(stream, 0)
    const { transport, messages } = fakeTransport()
    attach(stream, transport, limits)
    stream.publishMedia(8, 100, audio(1))
    stream.publishMedia(9, 120, inter(9))
    expect(messages).toEqual([])
    stream.publishMedia(9, 2000, key(5))
    stream.publishMedia(8, 2001, audio(2))
    expect(kinds(messages)).toEqual(["vsh", "K5", "a2"])
  })

  it("audio-only streams start at once", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "p" })
    stream.publishMedia(8, 0, AUDIO_HEADER)
    const { transport, messages } = fakeTransport()
    attach(stream, transport, limits)
    stream.publishMedia(8, 23, audio(1))
    stream.publishMedia(8, 46, audio(2))
    expect(kinds(messages)).toEqual(["ash", "a1", "a2"])
  })

  it("timestamps pass through unchanged, across the 24-bit and 32-bit boundaries", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "p" })
    const { transport, messages } = fakeTransport()
    attach(stream, transport, limits)
    const times = [0xfffff0, 0xffffff, 0x1000000, 0xfffffff0, 0x00000010]
    stream.publishMedia(9, times[0] as number, key(1))
    for (const t of times.slice(1)) stream.publishMedia(9, t, inter(2))
    expect(messages.map((m) => m.timestamp)).toEqual(times)
  })

  it("a slow player skips to the next keyframe, then is dropped past the hard limit", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "p" })
    const { transport, messages, state } = fakeTransport()
    const player = attach(stream, transport, limits)
    publishGop(stream, 0)
    expect(kinds(messages)).toEqual(["K0", "a0", "i1", "i2"])
    state.queued = 2000 // over the soft limit
    stream.publishMedia(9, 120, inter(3))
    stream.publishMedia(8, 121, audio(3))
    state.queued = 0
    stream.publishMedia(9, 160, inter(4)) // still skipping: needs a keyframe
    stream.publishMedia(9, 1000, key(5))
    expect(kinds(messages).slice(4)).toEqual(["K5"])
    expect(player.droppedFrames).toBe(1)
    state.queued = 6000
    stream.publishMedia(9, 1040, inter(6))
    expect(state.disconnected).toMatch(/hard limit/)
    expect(player.closed).toBe(true)
  })

  it("a player that has been behind longer than the allowed lag is dropped", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "p" })
    const { transport, state } = fakeTransport()
    attach(stream, transport, { ...limits, maxLagMillis: -1 })
    publishGop(stream, 0)
    state.queued = 2000
    stream.publishMedia(9, 120, inter(3))
    stream.publishMedia(9, 160, inter(4))
    expect(state.disconnected).toMatch(/behind for more than/)
  })

  it("unpublish notifies players, clears headers, and a new publisher starts them again at a keyframe", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "p1" })
    stream.publishMedia(9, 0, VIDEO_HEADER)
    publishGop(stream, 0)
    const { transport, messages, statuses, controls } = fakeTransport()
    attach(stream, transport, limits)
    stream.stopPublishing()
    expect(statuses).toEqual(["NetStream.Play.UnpublishNotify"])
    expect(controls).toEqual([1]) // StreamEOF
    expect(stream.videoHeader).toBeUndefined()
    messages.length = 0
    stream.startPublishing({ connectionId: "p2" })
    expect(statuses.at(-1)).toBe("NetStream.Play.PublishNotify")
    stream.publishMedia(9, 5, inter(1))
    stream.publishMedia(9, 0, Buffer.from([0x17, 0x00, 0, 0, 0, 2]))
    stream.publishMedia(9, 10, key(3))
    expect(kinds(messages)).toEqual(["vsh", "K3"])
    expect(messages[0]?.payload[5]).toBe(2) // the new publisher's header
  })

  it("bounds the GOP cache by frames and bytes and never caches a partial GOP", () => {
    const stream = new LiveStream("live", "s", { enabled: true, maxFrames: 3, maxBytes: 10_000 })
    stream.startPublishing({ connectionId: "p" })
    stream.publishMedia(9, 0, key(1))
    stream.publishMedia(9, 40, inter(2))
    stream.publishMedia(9, 80, inter(3))
    expect(stream.gop.length).toBe(3)
    stream.publishMedia(9, 120, inter(4))
    expect(stream.gop.length).toBe(0)
    stream.publishMedia(9, 160, inter(5))
    expect(stream.gop.length).toBe(0)
    stream.publishMedia(9, 200, key(6))
    expect(stream.gop.length).toBe(1)
  })

  it("shares one encoded Buffer between players on the same stream id", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "p" })
    const seen: Array<Buffer> = []
    const transport = { ...fakeTransport().transport, write: (b: Buffer) => void seen.push(b) }
    for (let i = 0; i < 3; i++) attach(stream, transport, limits)
    stream.publishMedia(9, 0, key(1))
    expect(seen).toHaveLength(3)
    expect(seen[0]).toBe(seen[1])
    expect(seen[1]).toBe(seen[2])
  })

  it("receiveVideo(false) and pause hold media back; resuming waits for a keyframe", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "p" })
    const { transport, messages } = fakeTransport()
    const player = attach(stream, transport, limits)
    publishGop(stream, 0)
    player.setReceiveVideo(stream, false)
    stream.publishMedia(9, 120, inter(3))
    stream.publishMedia(8, 121, audio(3))
    player.setReceiveVideo(stream, true)
    player.setPaused(stream, true)
    stream.publishMedia(8, 140, audio(4))
    player.setPaused(stream, false)
    stream.publishMedia(9, 160, inter(5))
    stream.publishMedia(9, 200, key(6))
    expect(kinds(messages)).toEqual(["K0", "a0", "i1", "i2", "a3", "K6"])
  })

  it("keeps data messages other than metadata flowing without caching them", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "p" })
    const { transport, messages } = fakeTransport()
    attach(stream, transport, limits)
    stream.publishMedia(9, 0, key(1))
    stream.publishData(Buffer.from([0x02, 0x00, 0x0a, ...Buffer.from("onCuePoint")]), 10)
    expect(kinds(messages)).toEqual(["K1", "onCuePoint"])
    expect(stream.metadata).toBeUndefined()
  })

  it("a takeover keeps players, restarts them on the new publisher's keyframe with its headers, and keeps time monotonic", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "old" })
    stream.publishMedia(9, 0, VIDEO_HEADER)
    publishGop(stream, 5000)
    const { transport, messages, statuses } = fakeTransport()
    attach(stream, transport, limits)
    messages.length = 0
    const previous = stream.takeOver({ connectionId: "new" })
    expect(previous?.connectionId).toBe("old")
    expect(statuses).toEqual([]) // no unpublish: the player never notices a gap
    stream.publishMedia(9, 0, Buffer.from([0x17, 0x00, 0, 0, 0, 7])) // the new encoder starts its clock at 0
    stream.publishMedia(9, 0, key(8))
    stream.publishMedia(9, 40, inter(9))
    expect(kinds(messages)).toEqual(["vsh", "K8", "i9"])
    expect(messages[0]?.payload[5]).toBe(7)
    expect(messages.map((m) => m.timestamp)).toEqual([5081, 5081, 5121]) // continues after the old 5080
  })

  it("a takeover with the same decoder configuration does not repeat it; a different one is sent", () => {
    const stream = newStream()
    stream.startPublishing({ connectionId: "old" })
    stream.publishMedia(9, 0, VIDEO_HEADER)
    stream.publishMedia(8, 0, AUDIO_HEADER)
    publishGop(stream, 0)
    const { transport, messages } = fakeTransport()
    attach(stream, transport, limits)
    expect(kinds(messages).slice(0, 2)).toEqual(["vsh", "ash"])
    messages.length = 0
    stream.takeOver({ connectionId: "same" })
    stream.publishMedia(9, 0, Buffer.from(VIDEO_HEADER))
    stream.publishMedia(8, 0, Buffer.from(AUDIO_HEADER))
    stream.publishMedia(9, 0, key(8))
    stream.publishMedia(9, 0, Buffer.from(VIDEO_HEADER)) // repeated before a keyframe by some encoders
    stream.publishMedia(9, 40, key(9))
    expect(kinds(messages)).toEqual(["K8", "K9"])
    messages.length = 0
    stream.takeOver({ connectionId: "other" })
    stream.publishMedia(9, 0, Buffer.from([0x17, 0x00, 0, 0, 0, 2]))
    stream.publishMedia(8, 0, Buffer.from(AUDIO_HEADER))
    stream.publishMedia(9, 0, key(10))
    expect(kinds(messages)).toEqual(["vsh", "K10"])
    expect(messages[0]?.payload[5]).toBe(2)
  })
})
