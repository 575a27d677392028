/** The RTMP sinks (player, push relay) against the output contract, decoded by our chunk reader. */
import { ChunkReader, type RtmpMessage } from "../../src/protocol/chunk-reader.js"
import { LiveStream } from "../../src/media/stream.js"
import { Viewer } from "../../src/media/viewer.js"
import { RtmpPlaySink, RtmpPublishSink, type RtmpTransport } from "../../src/rtmp/sinks.js"
import { type AttachedOutput, limits, outputContract } from "../support/output-contract.js"

const CHUNK = 4096

const rtmpClient = (stream: LiveStream, make: (transport: RtmpTransport) => RtmpPlaySink | RtmpPublishSink): AttachedOutput => {
  const reader = new ChunkReader()
  reader.chunkSize = CHUNK
  const messages: Array<RtmpMessage> = []
  const state = { stalled: false, queued: 0, ended: false }
  const transport: RtmpTransport = {
    write: (bytes) => {
      if (state.stalled) state.queued += bytes.length
      else reader.push(bytes, (m) => void messages.push({ ...m, payload: Buffer.from(m.payload) }))
    },
    queuedBytes: () => state.queued,
    disconnect: () => void (state.ended = true)
  }
  const viewer = new Viewer(make(transport), limits)
  stream.players.add(viewer)
  viewer.start(stream)
  return {
    viewer,
    tags: () => messages.filter((m) => m.typeId === 8 || m.typeId === 9 || m.typeId === 18),
    stall: () => void (state.stalled = true),
    queuedBytes: () => state.queued,
    ended: () => state.ended
  }
}

outputContract({
  name: "RTMP player",
  onUnpublish: "continues",
  attach: (stream) => rtmpClient(stream, (t) => new RtmpPlaySink(1, CHUNK, t, { status: () => {}, userControl: () => {} }))
})

outputContract({
  name: "RTMP player on message stream 3 (not pre-encoded)",
  onUnpublish: "continues",
  attach: (stream) => rtmpClient(stream, (t) => new RtmpPlaySink(3, CHUNK, t, { status: () => {}, userControl: () => {} }))
})

outputContract({
  name: "RTMP push relay",
  onUnpublish: "continues",
  attach: (stream) => rtmpClient(stream, (t) => new RtmpPublishSink(1, CHUNK, t))
})
