/** Pings, ping timeouts, publisher idle timeouts and connection limits, driven by the TestClock. */
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import * as net from "node:net"
import { RtmpServer } from "../../src/server/listener.js"
import { connectClient, isStatus, openStream } from "../support/client.js"
import { testServer } from "../support/server.js"

const realWait = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

it.scoped("a peer that answers nothing is pinged, then dropped at the ping timeout; one that answers stays", () =>
  Effect.gen(function* () {
    const context = yield* Layer.build(testServer({ pingInterval: Duration.seconds(30), pingTimeout: Duration.seconds(10) }))
    const { address } = yield* Effect.provide(RtmpServer, context)
    const [mute, alive] = yield* Effect.promise(() => Promise.all([connectClient(address.port), connectClient(address.port)]))
    yield* Effect.promise(() => Promise.all([mute.waitFor((e) => e._tag === "Connected"), alive.waitFor((e) => e._tag === "Connected")]))
    mute.socket.removeAllListeners("data")
    mute.socket.on("data", () => {}) // reads, but never answers a ping
    yield* realWait(100)
    yield* TestClock.adjust("30 seconds") // the first interval saw the connect: no ping yet
    yield* realWait(100)
    yield* TestClock.adjust("30 seconds")
    yield* realWait(200)
    expect(alive.events.some((e) => e._tag === "UserControl" && e.control.event === 6)).toBe(true) // pinged, answered
    yield* TestClock.adjust("10 seconds")
    yield* realWait(300)
    expect(mute.closed).toBe(true)
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
    yield* TestClock.adjust("5 seconds")
    yield* realWait(150)
    expect(publisher.closed).toBe(false)
    yield* TestClock.adjust("5 seconds")
    yield* realWait(300)
    expect(publisher.closed).toBe(true)
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
    yield* realWait(300)
    expect(sockets.filter((s) => s.closed).length).toBe(2)
    expect(yield* connectionCount).toBe(3)
    sockets.forEach((s) => s.socket.destroy())
    yield* realWait(200)
    expect(yield* connectionCount).toBe(0)
  }))
