/**
 * Pings, ping timeouts, publisher idle timeouts and connection limits: the pure verdicts of `Liveness` on
 * plain timestamps, then a real server's connections driven by the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import * as net from "node:net"
import { Liveness } from "../../src/rtmp/liveness.js"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { connectClient, isStatus, openStream } from "../support/client.js"
import { eventually, timersArmed } from "../support/poll.js"
import { testServer } from "../support/server.js"

const isPing = (e: { _tag: string }) => e._tag === "UserControl" && "control" in e && (e.control as { event: number }).event === 6

describe("Liveness", () => {
  const limits = { pingIntervalMillis: 30_000, pingTimeoutMillis: 10_000, publisherIdleMillis: 0 }

  it("pings a silent peer once after the interval and drops it when the ping goes unanswered", () => {
    const liveness = new Liveness(limits)
    expect(liveness.check(1_000, 100, false, 0)).toBe("alive") // the sweep's first look: heard at 1 s
    expect(liveness.check(30_999, 100, false, 0)).toBe("alive")
    expect(liveness.check(31_000, 100, false, 0)).toBe("ping")
    expect(liveness.check(32_000, 100, false, 0)).toBe("alive") // pinged once, not every sweep
    expect(liveness.check(40_999, 100, false, 0)).toBe("alive")
    expect(liveness.check(41_000, 100, false, 0)).toBe("pingTimeout")
  })

  it("takes any byte for an answer: a peer that answers is pinged again only after another silent interval", () => {
    const liveness = new Liveness(limits)
    expect(liveness.check(30_000, 0, false, 0)).toBe("alive") // the first look records what was read
    expect(liveness.check(60_000, 0, false, 0)).toBe("ping")
    expect(liveness.check(65_000, 12, false, 0)).toBe("alive") // the acknowledgement
    expect(liveness.check(94_999, 12, false, 0)).toBe("alive")
    expect(liveness.check(95_000, 12, false, 0)).toBe("ping")
  })

  it("drops a publisher that sends no media for the idle limit, counted from its publish, even while it answers pings", () => {
    const liveness = new Liveness({ ...limits, publisherIdleMillis: 10_000 })
    expect(liveness.check(1_000, 10, false, 3)).toBe("alive") // not publishing: media does not matter
    liveness.publishingSince(50_000, 3)
    expect(liveness.check(55_000, 20, true, 3)).toBe("alive")
    expect(liveness.check(59_999, 30, true, 3)).toBe("alive")
    expect(liveness.check(60_000, 40, true, 3)).toBe("publisherIdle")
  })

  it("restarts a publisher's idle clock with every media message, and checks nothing with the limit at 0", () => {
    const idle = new Liveness({ ...limits, publisherIdleMillis: 10_000 })
    idle.publishingSince(0, 0)
    expect(idle.check(9_000, 10, true, 1)).toBe("alive")
    expect(idle.check(18_999, 20, true, 1)).toBe("alive")
    expect(idle.check(19_000, 30, true, 1)).toBe("publisherIdle")
    const unlimited = new Liveness(limits)
    unlimited.publishingSince(0, 0)
    expect(unlimited.check(1_000_000, 10, true, 0)).toBe("alive")
  })

  it("puts a ping timeout before an idle publisher, and an idle publisher before a ping", () => {
    const liveness = new Liveness({ pingIntervalMillis: 5_000, pingTimeoutMillis: 10_000, publisherIdleMillis: 5_000 })
    liveness.publishingSince(0, 0)
    expect(liveness.check(1_000, 10, true, 0)).toBe("alive")
    expect(liveness.check(6_000, 10, true, 0)).toBe("publisherIdle") // due for a ping too: the connection ends instead
    const silent = new Liveness({ pingIntervalMillis: 5_000, pingTimeoutMillis: 5_000, publisherIdleMillis: 10_000 })
    silent.publishingSince(0, 0)
    expect(silent.check(0, 0, true, 0)).toBe("alive")
    expect(silent.check(5_000, 0, true, 0)).toBe("ping")
    expect(silent.check(10_000, 0, true, 0)).toBe("pingTimeout") // idle for 10 s too
  })
})

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
