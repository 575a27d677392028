import { describe, expect, it } from "@effect/vitest"
import { amfObject } from "../../src/protocol/amf0.js"
import { ChunkWriter } from "../../src/protocol/chunk-writer.js"
import { encodeCommand, encodeUserControl, encodeWindowAckSize } from "../../src/protocol/messages.js"
import { type ClientEvent, ClientSession, defaultClientOptions } from "../../src/session/client-session.js"
import { type ServerSession as ServerSessionType, ServerSession, type SessionRequest, splitStreamName } from "../../src/session/server-session.js"

const options = {
  chunkSize: 4096,
  windowAckSize: 5_000_000,
  peerBandwidth: 5_000_000,
  maxStreams: 4,
  limits: { maxMessageSize: 1 << 20, maxChunkStreams: 16, maxBufferedBytes: 1 << 21 }
}

/** A server and a client session wired back to back; requests are answered by `decide`. */
const pair = (decide: (request: SessionRequest, server: ServerSessionType) => void = () => {}) => {
  const requests: Array<SessionRequest> = []
  const media: Array<number> = []
  const data: Array<ReadonlyArray<unknown>> = []
  const clientEvents: Array<ClientEvent> = []
  const toServer: Array<Buffer> = []
  let client: ClientSession
  const server: ServerSession = new ServerSession(options, (b) => client.receive(b), {
    request: (r) => {
      requests.push(r)
      decide(r, server)
    },
    media: (m) => void media.push(m.timestamp),
    data: (_id, values) => void data.push(values)
  })
  client = new ClientSession(defaultClientOptions("live", "rtmp://localhost/live"), (b) => {
    toServer.push(b)
    server.receive(b)
  }, (e) => void clientEvents.push(e))
  return { server, client, requests, media, data, clientEvents, toServer }
}

const acceptAll = (request: SessionRequest, server: ServerSessionType) => {
  if (request._tag === "Connect") server.acceptConnect(request.transactionId, request.objectEncoding, request.app ?? "")
  server.resume()
}

describe("server and client sessions", () => {
  it("connect: the request carries app and tcUrl; accept sends chunk size, _result and onBWDone", () => {
    const { client, requests, clientEvents, server } = pair(acceptAll)
    client.connect()
    expect(requests[0]).toMatchObject({ _tag: "Connect", app: "live", tcUrl: "rtmp://localhost/live", objectEncoding: 0 })
    expect(clientEvents.map((e) => e._tag)).toContain("Connected")
    expect(server.connected).toBe(true)
    expect(client.reader.chunkSize).toBe(4096) // the server's Set Chunk Size was applied
    expect(clientEvents.some((e) => e._tag === "Command" && e.name === "onBWDone")).toBe(true)
  })

  it("createStream allocates ids; one beyond the per-connection limit is refused and ends the session", () => {
    const { client, clientEvents } = pair(acceptAll)
    client.connect()
    for (let i = 0; i < 4; i++) client.createStream()
    expect(clientEvents.filter((e) => e._tag === "StreamCreated").map((e) => e._tag === "StreamCreated" && e.streamId)).toEqual([1, 2, 3, 4])
    expect(() => client.createStream()).toThrow(/max-streams-per-connection/)
    expect(clientEvents.some((e) => e._tag === "CommandFailed" && e.command === "createStream")).toBe(true)
  })

  it("publish splits the name from its query and keeps media behind the pending request", () => {
    let held: ServerSessionType | undefined
    const { client, requests, media } = pair((request, server) => {
      if (request._tag === "Publish") {
        held = server // answered later: media must wait
        return
      }
      acceptAll(request, server)
    })
    client.connect()
    client.createStream()
    client.publish(1, "cam?key=abc")
    client.sendMedia(1, 9, 40, Buffer.from([0x17, 0x01, 0, 0, 0]))
    expect(requests.at(-1)).toMatchObject({ _tag: "Publish", streamId: 1, name: "cam", query: "key=abc", publishType: "live" })
    expect(media).toEqual([])
    // The bytes waiting are counted (the connection stops reading its socket past a bound).
    const waiting = held?.pendingBytes ?? 0
    expect(waiting).toBeGreaterThan(5)
    client.sendMedia(1, 9, 80, Buffer.alloc(10_000))
    expect(held?.pendingBytes).toBeGreaterThan(10_000 + waiting)
    held?.resume()
    expect(media).toEqual([40, 80])
    expect(held?.pendingBytes).toBe(0)
  })

  it("answers releaseStream/FCPublish/getStreamLength, and unknown commands with _error", () => {
    const replies: Array<string> = []
    const probe = new ClientSession(defaultClientOptions("live", "x"), () => {}, (e) => {
      if (e._tag === "Command") replies.push(e.name)
    })
    const writer = new ChunkWriter()
    const out = (name: string, txn: number, ...args: Array<string>) => writer.write(3, 20, 0, 0, encodeCommand(name, txn, null, ...args))
    const sent: Array<Buffer> = []
    const s2 = new ServerSession(options, (b) => sent.push(b), { request: () => {}, media: () => {}, data: () => {} })
    s2.receive(Buffer.concat([out("releaseStream", 2, "k"), out("FCPublish", 3, "k"), out("getStreamLength", 4, "k"), out("frobnicate", 5)]))
    for (const b of sent) probe.receive(b)
    expect(replies).toEqual(["onFCPublish"])
    const decoded = sent.map((b) => b.toString("latin1"))
    expect(decoded.filter((d) => d.includes("_result")).length).toBe(3)
    expect(decoded.some((d) => d.includes("_error") && d.includes("Method not found (frobnicate)"))).toBe(true)
  })

  it("answers ping requests and acknowledges by the peer's window with a running total", () => {
    const sent: Array<Buffer> = []
    const events: Array<ClientEvent> = []
    const s = new ServerSession(options, (b) => sent.push(b), { request: () => {}, media: () => {}, data: () => {} })
    const writer = new ChunkWriter()
    s.receive(writer.write(2, 5, 0, 0, encodeWindowAckSize(100)))
    s.receive(writer.write(2, 4, 0, 0, encodeUserControl({ event: 6, timestamp: 5230 })))
    const reader = new ClientSession(defaultClientOptions("a", "b"), () => {}, (e) => void events.push(e))
    for (const b of sent) reader.receive(b)
    expect(events.some((e) => e._tag === "UserControl" && e.control.event === 7 && "timestamp" in e.control && e.control.timestamp === 5230)).toBe(true)
    // 100-byte window: 16 + 18 bytes so far, then 100 more bytes of audio → one acknowledgement of the total.
    sent.length = 0
    s.receive(writer.write(6, 8, 1, 0, Buffer.alloc(100)))
    const acks = sent.filter((b) => b[7] === 3)
    expect(acks).toHaveLength(1)
    expect(acks[0]?.readUInt32BE(8)).toBe(s.reader.bytesRead) // fmt 1 header: 8 bytes
  })

  it("routes @setDataFrame metadata and closes streams on deleteStream, FCUnpublish and closeStream", () => {
    const { client, data, requests } = pair(acceptAll)
    client.connect()
    client.createStream()
    client.publish(1, "cam")
    client.sendMetadata(1, amfObject({ width: 640 }))
    client.unpublish(1, "cam")
    expect(data[0]?.[0]).toBe("onMetaData")
    expect(requests.map((r) => r._tag)).toEqual(["Connect", "Publish", "Unpublish", "CloseStream"])
  })

  it("splits stream names like nginx-rtmp", () => {
    expect(splitStreamName("a?b=c&d")).toEqual({ name: "a", query: "b=c&d" })
    expect(splitStreamName("plain")).toEqual({ name: "plain", query: "" })
  })
})
