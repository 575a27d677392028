/**
 * The FLV sink (HTTP-FLV and WS-FLV) against the output contract, decoded by an independent FLV reader (and,
 * for WS-FLV, the `ws` library's frame reader first).
 */
import { describe, expect, it } from "@effect/vitest"
import { FlvSink, type FlvTransport } from "../../src/flv/sink.js"
import { LiveStream } from "../../src/media/stream.js"
import { Viewer } from "../../src/media/viewer.js"
import { readFlv } from "../support/flv.js"
import { type AttachedOutput, limits, outputContract } from "../support/output-contract.js"
import { readWsMessages } from "../support/ws-frames.js"

/** The payloads of the binary messages in `bytes`, as `ws`'s client-side reader sees them. */
const unframe = (bytes: Buffer): Buffer => {
  const messages = readWsMessages(bytes)
  expect(messages.every((m) => m.binary)).toBe(true)
  return Buffer.concat(messages.map((m) => m.data))
}

const flvClient = (protocol: "http-flv" | "ws-flv") => (stream: LiveStream) => {
  const received: Array<Buffer> = []
  const state = { stalled: false, queued: 0, ended: false }
  const transport: FlvTransport = {
    write: (bytes) => {
      if (state.stalled) state.queued += bytes.length
      else received.push(bytes)
    },
    queuedBytes: () => state.queued,
    end: () => void (state.ended = true)
  }
  const viewer = new Viewer(new FlvSink(transport, protocol), limits)
  stream.players.add(viewer)
  viewer.start(stream)
  const bytes = () => (protocol === "ws-flv" ? unframe(Buffer.concat(received)) : Buffer.concat(received))
  const client: AttachedOutput & { bytes(): Buffer } = {
    viewer,
    tags: () => (received.length === 0 ? [] : readFlv(bytes()).map((t) => ({ typeId: t.type, timestamp: t.timestamp, payload: t.data }))),
    stall: () => void (state.stalled = true),
    queuedBytes: () => state.queued,
    ended: () => state.ended,
    bytes
  }
  return client
}

outputContract({ name: "HTTP-FLV", onUnpublish: "ends", attach: flvClient("http-flv") })
outputContract({ name: "WS-FLV", onUnpublish: "ends", attach: flvClient("ws-flv") })

describe("FLV sink", () => {
  it("the file header's flags match the stream's tracks", () => {
    const stream = new LiveStream("live", "a", { enabled: true, maxFrames: 100, maxBytes: 1 << 20 })
    stream.startPublishing({ connectionId: "p" })
    stream.publishMedia(8, 0, Buffer.from([0xaf, 0x00, 0x12, 0x10]))
    const client = flvClient("http-flv")(stream)
    stream.publishMedia(8, 23, Buffer.from([0xaf, 0x01, 1]))
    expect(client.bytes().subarray(0, 9).toString("hex")).toBe("464c560104" + "00000009") // audio only
  })

  it("writes nothing once its connection was told to end: a publisher back before the connection is gone gets no media through", () => {
    for (const protocol of ["http-flv", "ws-flv"] as const) {
      const stream = new LiveStream("live", `e-${protocol}`, { enabled: true, maxFrames: 100, maxBytes: 1 << 20 })
      stream.startPublishing({ connectionId: "p" })
      stream.publishMedia(9, 0, Buffer.from([0x17, 0x00, 0, 0, 0, 1]))
      const written: Array<Buffer> = []
      let ends = 0
      const viewer = new Viewer(new FlvSink({ write: (b) => void written.push(b), queuedBytes: () => 0, end: () => void ends++ }, protocol), limits)
      stream.players.add(viewer)
      viewer.start(stream)
      stream.publishMedia(9, 40, Buffer.from([0x17, 0x01, 0, 0, 0, 9]))
      const before = written.length
      expect(before).toBeGreaterThan(0)
      stream.stopPublishing()
      expect(ends).toBe(1)
      // The viewer is still on the stream (a WebSocket's close handshake is under way) when the publisher returns.
      stream.startPublishing({ connectionId: "q" })
      stream.publishMedia(9, 0, Buffer.from([0x17, 0x00, 0, 0, 0, 1]))
      stream.publishMedia(9, 40, Buffer.from([0x17, 0x01, 0, 0, 0, 9]))
      expect(written.length).toBe(before)
    }
  })

  it("every FLV viewer of a stream gets the very same tag Buffer as the others of its transport", () => {
    const stream = new LiveStream("live", "b", { enabled: true, maxFrames: 100, maxBytes: 1 << 20 })
    stream.startPublishing({ connectionId: "p" })
    const seen = { "http-flv": [] as Array<Buffer>, "ws-flv": [] as Array<Buffer> }
    for (const protocol of ["http-flv", "ws-flv"] as const) {
      for (let i = 0; i < 3; i++) {
        const viewer = new Viewer(new FlvSink({ write: (b) => void seen[protocol].push(b), queuedBytes: () => 0, end: () => {} }, protocol), limits)
        stream.players.add(viewer)
        viewer.start(stream)
      }
    }
    seen["http-flv"].length = 0
    seen["ws-flv"].length = 0
    stream.publishMedia(9, 0, Buffer.from([0x17, 0x01, 0, 0, 0, 9]))
    // Each viewer's FLV file header goes first ("FLV", behind a frame header for WS-FLV), then the tag.
    const isFileHeader = (b: Buffer) => b.includes("FLV") && b.length <= 15
    for (const written of [seen["http-flv"], seen["ws-flv"]]) {
      const tags = written.filter((b) => !isFileHeader(b))
      expect(tags).toHaveLength(3)
      expect(tags[1]).toBe(tags[0])
      expect(tags[2]).toBe(tags[0])
    }
    // The WebSocket message is the FLV tag behind a 2-byte frame header (FIN + binary, 21 bytes).
    const [wsTag, httpTag] = [seen["ws-flv"], seen["http-flv"]].map((written) => written.find((b) => !isFileHeader(b))?.toString("hex"))
    expect(wsTag).toBe(`8215${httpTag}`)
  })
})
