/**
 * The project's own RTMP test client: a real socket, our client handshake and session, every event
 * recorded. Used where third-party players cannot observe what a test needs (they exit on unpublish).
 */
import * as net from "node:net"
import { type AmfValue, amfObject } from "../../src/protocol/amf0.js"
import { ClientHandshake } from "../../src/protocol/handshake.js"
import { type ClientEvent, ClientSession, defaultClientOptions } from "../../src/session/client-session.js"

export interface TestClient {
  readonly events: Array<ClientEvent>
  readonly session: ClientSession
  readonly socket: net.Socket
  readonly c1: Buffer
  /** Bytes written to / read from the socket, handshake included. */
  bytesSent: number
  bytesReceived: number
  closed: boolean
  waitFor<E extends ClientEvent>(predicate: (e: ClientEvent) => e is E, timeoutMs?: number, from?: number): Promise<E>
  waitFor(predicate: (e: ClientEvent) => boolean, timeoutMs?: number, from?: number): Promise<ClientEvent>
  waitClosed(timeoutMs?: number): Promise<void>
  close(): void
}

export const connectClient = (
  port: number,
  app = "live",
  host = "127.0.0.1",
  /** Extra connect properties, e.g. E-RTMP `fourCcList` and `capsEx`. */
  connectProperties: ReadonlyArray<readonly [string, AmfValue]> = []
): Promise<TestClient> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host, port })
    const handshake = new ClientHandshake()
    const events: Array<ClientEvent> = []
    const listeners = new Set<() => void>()
    const notify = () => listeners.forEach((l) => l())
    const write = (bytes: Buffer) => {
      client.bytesSent += bytes.length
      socket.write(bytes)
    }
    const session = new ClientSession({ ...defaultClientOptions(app, `rtmp://${host}:${port}/${app}`), connectProperties }, write, (e) => {
      events.push(e)
      notify()
    })
    const c0c1 = handshake.start()
    let handshaking = true
    const client: TestClient = {
      events,
      session,
      socket,
      c1: c0c1.subarray(1),
      bytesSent: 0,
      bytesReceived: 0,
      closed: false,
      waitFor(predicate: (e: ClientEvent) => boolean, timeoutMs = 10_000, from = 0): Promise<ClientEvent> {
        return new Promise((ok, fail) => {
          const check = () => {
            const found = events.slice(from).find(predicate)
            if (found !== undefined) {
              listeners.delete(check)
              clearTimeout(timer)
              ok(found)
            } else if (client.closed) {
              listeners.delete(check)
              clearTimeout(timer)
              fail(new Error(`connection closed while waiting; events: ${summary(events)}`))
            }
          }
          const timer = setTimeout(() => {
            listeners.delete(check)
            fail(new Error(`timed out after ${timeoutMs} ms; events: ${summary(events)}`))
          }, timeoutMs)
          listeners.add(check)
          check()
        })
      },
      waitClosed(timeoutMs = 10_000) {
        return new Promise((ok, fail) => {
          if (client.closed) return ok()
          const timer = setTimeout(() => fail(new Error("connection still open")), timeoutMs)
          socket.once("close", () => {
            clearTimeout(timer)
            ok()
          })
        })
      },
      close() {
        socket.destroy()
      }
    }
    socket.on("connect", () => {
      write(c0c1)
      resolve(client)
    })
    socket.on("error", (e) => {
      if (!client.closed && client.bytesSent === 0) reject(e)
    })
    socket.on("close", () => {
      client.closed = true
      notify()
    })
    socket.on("data", (bytes: Buffer) => {
      client.bytesReceived += bytes.length
      if (handshaking) {
        const step = handshake.receive(bytes)
        if (step.send !== undefined) write(step.send)
        if (step._tag !== "Done") return
        handshaking = false
        session.connect()
        if (step.rest.length > 0) session.receive(step.rest)
        return
      }
      session.receive(bytes)
    })
  })

const summary = (events: ReadonlyArray<ClientEvent>) =>
  events
    .filter((e) => e._tag !== "Media")
    .map((e) => (e._tag === "Status" ? `Status(${e.code})` : e._tag))
    .join(", ") + ` (+${events.filter((e) => e._tag === "Media").length} media)`

export const isStatus =
  (code: string) =>
  (e: ClientEvent): e is Extract<ClientEvent, { _tag: "Status" }> =>
    e._tag === "Status" && e.code === code

export const isMedia = (e: ClientEvent): e is Extract<ClientEvent, { _tag: "Media" }> => e._tag === "Media"

/** Connects, creates a stream and returns its id. */
export const openStream = async (client: TestClient): Promise<number> => {
  await client.waitFor((e) => e._tag === "Connected")
  client.session.createStream()
  const created = await client.waitFor((e): e is Extract<ClientEvent, { _tag: "StreamCreated" }> => e._tag === "StreamCreated")
  return created.streamId
}

/** Connects and publishes `name`; resolves once the server answered Publish.Start. */
export const publishAs = async (port: number, name: string): Promise<{ readonly client: TestClient; readonly streamId: number }> => {
  const client = await connectClient(port)
  const streamId = await openStream(client)
  client.session.publish(streamId, name)
  await client.waitFor(isStatus("NetStream.Publish.Start"))
  return { client, streamId }
}

/** Connects and plays `name`; resolves once the server answered Play.Start. */
export const playAs = async (port: number, name: string, connectProperties: ReadonlyArray<readonly [string, AmfValue]> = []): Promise<TestClient> => {
  const client = await connectClient(port, "live", "127.0.0.1", connectProperties)
  const streamId = await openStream(client)
  client.session.play(streamId, name)
  await client.waitFor(isStatus("NetStream.Play.Start"))
  return client
}

/**
 * Calls `send(n)` for frame n = 0, 1, 2, … at n × `frameMs` after the start, by the wall clock: a late timer
 * sends the frames it missed at once, as an encoder does, instead of delaying every later frame. (Paced by
 * setInterval alone, each late tick pushes all later frames back: the stream then runs slower than its
 * timestamps, and a player holding a fraction of a second of it, as LL-HLS does, runs dry.) Returns stop.
 */
export const paceFrames = (frameMs: number, send: (n: number) => void): (() => void) => {
  const start = performance.now()
  let n = 0
  const tick = () => {
    const due = Math.floor((performance.now() - start) / frameMs)
    while (n <= due) send(n++)
  }
  tick()
  const timer = setInterval(tick, Math.max(1, Math.floor(frameMs / 4)))
  return () => clearInterval(timer)
}

/**
 * A synthetic publisher: an AVC sequence header, metadata, then 50 video frames per second of
 * `frameBytes` (a keyframe every 25) plus AAC-like audio. The server does not decode, so fake payloads do.
 */
export const syntheticPublisher = async (port: number, name: string, frameBytes = 2000) => {
  const { client, streamId } = await publishAs(port, name)
  client.session.sendMedia(streamId, 9, 0, Buffer.from([0x17, 0x00, 0, 0, 0, 1, 0x64]))
  client.session.sendMetadata(streamId, amfObject({ width: 320, height: 240 }))
  const stop = paceFrames(20, (i) => {
    const n = i + 1
    const payload = Buffer.alloc(frameBytes, n & 0xff)
    payload[0] = n % 25 === 1 ? 0x17 : 0x27
    payload[1] = 1
    client.session.sendMedia(streamId, 9, n * 20, payload)
    client.session.sendMedia(streamId, 8, n * 20, Buffer.from([0xaf, 0x01, n & 0xff]))
  })
  return { client, stop }
}

/** Runs `body` while a `syntheticPublisher` sends `name`; the publisher stops and disconnects afterwards, however `body` ends. */
export const whilePublishing = async <A>(port: number, name: string, body: () => Promise<A>): Promise<A> => {
  const publisher = await syntheticPublisher(port, name)
  try {
    return await body()
  } finally {
    publisher.stop()
    publisher.client.close()
  }
}
