/** The FLV sink (HTTP-FLV and WS-FLV) against the output contract, decoded by an independent FLV reader. */
import { describe, expect, it } from "@effect/vitest"
import { FlvSink, type FlvTransport } from "../../src/flv/sink.js"
import { LiveStream } from "../../src/media/stream.js"
import { Viewer } from "../../src/media/viewer.js"
import { readFlv } from "../support/flv.js"
import { type AttachedOutput, limits, outputContract } from "../support/output-contract.js"

const flvClient = (stream: LiveStream) => {
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
  const viewer = new Viewer(new FlvSink(transport, "http-flv"), limits)
  stream.players.add(viewer)
  viewer.start(stream)
  const bytes = () => Buffer.concat(received)
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

outputContract({ name: "FLV (HTTP-FLV, WS-FLV)", onUnpublish: "ends", attach: flvClient })

describe("FLV sink", () => {
  it("the file header's flags match the stream's tracks", () => {
    const stream = new LiveStream("live", "a", { enabled: true, maxFrames: 100, maxBytes: 1 << 20 })
    stream.startPublishing({ connectionId: "p" })
    stream.publishMedia(8, 0, Buffer.from([0xaf, 0x00, 0x12, 0x10]))
    const client = flvClient(stream)
    stream.publishMedia(8, 23, Buffer.from([0xaf, 0x01, 1]))
    expect(client.bytes().subarray(0, 9).toString("hex")).toBe("464c560104" + "00000009") // audio only
  })

  it("every FLV viewer of a stream gets the very same tag Buffer", () => {
    const stream = new LiveStream("live", "b", { enabled: true, maxFrames: 100, maxBytes: 1 << 20 })
    stream.startPublishing({ connectionId: "p" })
    const seen: Array<Buffer> = []
    for (let i = 0; i < 3; i++) {
      const viewer = new Viewer(new FlvSink({ write: (b) => void seen.push(b), queuedBytes: () => 0, end: () => {} }, "ws-flv"), limits)
      stream.players.add(viewer)
      viewer.start(stream)
    }
    seen.length = 0
    stream.publishMedia(9, 0, Buffer.from([0x17, 0x01, 0, 0, 0, 9]))
    const tags = seen.filter((b) => b.length > 13)
    expect(tags).toHaveLength(3)
    expect(tags[1]).toBe(tags[0])
    expect(tags[2]).toBe(tags[0])
  })
})
