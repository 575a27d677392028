/** Pings, ping timeouts, publisher idle timeouts and connection limits, driven by the TestClock. */
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import * as net from "node:net"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { connectClient, isStatus, openStream } from "../support/client.js"
import { eventually, timersArmed } from "../support/poll.js"
import { testServer } from "../support/server.js"


const isPing = (e: { _tag: string }) => e._tag === "UserControl" && "control" in e && (e.control as { event: number }).event === 6

it.scoped("a peer that answers nothing is pinged, then dropped at the ping timeout; one that answers stays", () =>
  Effect.gen(function* () {
    const context = yield* Layer.build(testServer({ pingInterval: Duration.seconds(30), pingTimeout: Duration.seconds(10), publisherIdleTimeout: Duration.zero }))
    const { address } = yield* Effect.provide(RtmpServer, context)
    const [mute, alive] = yield* Effect.promise(() => Promise.all([connectClient(address.port), connectClient(address.port)]))
    // A round trip as a barrier: once createStream is answered, the server has read everything sent before it.
    yield* Effect.promise(() => Promise.all([openStream(mute), openStream(alive)]))
    mute.socket.removeAllListeners("data")
    mute.socket.on("data", () => {}) // reads, but never answers a ping
    yield* timersArmed(1_000) // the connections' sweep (once a second); its first look at both is at 1 s
    yield* TestClock.adjust("30 seconds") // 29 s of silence: no ping yet
    yield* Effect.promise(() => openStream(alive)) // a barrier (which is also a sign of life: alive was heard at 31 s)
    expect(alive.events.some(isPing)).toBe(false)
    yield* TestClock.adjust("10 seconds") // the mute peer was pinged at 31 s, and is 9 s into the ping timeout
    expect(mute.closed).toBe(false)
    yield* TestClock.adjust("1 second")
    yield* eventually("the silent peer to be dropped", () => mute.closed)
    yield* TestClock.adjust("20 seconds") // 30 s after alive was last heard: pinged
    yield* Effect.promise(() => alive.waitFor(isPing)) // pinged, answered
    yield* Effect.promise(() => openStream(alive)) // the server has read the answer
    yield* TestClock.adjust("10 seconds") // past the ping timeout, but alive answered
    yield* Effect.promise(() => openStream(alive)) // still served
    expect(alive.closed).toBe(false)
    alive.close()
  }))

it.scoped("a publisher that sends no media is dropped after the publisher idle timeout", () =>
  Effect.gen(function* () {
    const context = yield* Layer.build(testServer({ pingInterval: Duration.seconds(5), publisherIdleTimeout: Duration.seconds(10) }))
    const { address } = yield* Effect.provide(RtmpServer, context)
    const publisher = yield* Effect.promise(async () => {
      const client = await connectClient(address.port)
      const id = await openStream(client)
      client.session.publish(id, "quiet")
      await client.waitFor(isStatus("NetStream.Publish.Start"))
      return client
    })
    yield* timersArmed(1_000) // the connections' sweep
    yield* TestClock.adjust("9 seconds")
    yield* Effect.promise(() => openStream(publisher)) // a barrier: not dropped after 9 s
    expect(publisher.closed).toBe(false)
    yield* TestClock.adjust("1 second")
    yield* eventually("the idle publisher to be dropped", () => publisher.closed)
  }))

it.scoped("connections over the per-IP limit are refused at once; the others are served", () =>
  Effect.gen(function* () {
    const context = yield* Layer.build(testServer({ maxConnectionsPerIp: 3 }))
    const { address, connectionCount } = yield* Effect.provide(RtmpServer, context)
    const sockets = yield* Effect.promise(() =>
      Promise.all(
        Array.from({ length: 5 }, () =>
          new Promise<{ socket: net.Socket; closed: boolean }>((resolve) => {
            const socket = net.connect({ host: "127.0.0.1", port: address.port })
            const entry = { socket, closed: false }
            socket.on("error", () => {})
            socket.on("close", () => (entry.closed = true))
            socket.on("connect", () => resolve(entry))
          })
        )
      )
    )
    yield* eventually("two refused connections", () => sockets.filter((s) => s.closed).length === 2)
    expect(yield* connectionCount).toBe(3)
    sockets.forEach((s) => s.socket.destroy())
    yield* eventually("every connection released", () => Effect.runPromise(connectionCount).then((n) => n === 0))
  }))
