/** Connection timers run on Effect's clock, so the TestClock drives them without real waiting. */
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import * as net from "node:net"
import { RtmpServer } from "../../src/server/listener.js"
import { testServer } from "../support/server.js"

const openSocket = (port: number) =>
  Effect.async<{ socket: net.Socket; closed: Promise<void> }>((resume) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const closed = new Promise<void>((r) => socket.once("close", () => r()))
    socket.on("error", () => {})
    socket.once("connect", () => resume(Effect.succeed({ socket, closed })))
  })

it.scoped("a client that never completes the handshake is closed when the handshake timeout passes", () =>
  Effect.gen(function* () {
    const context = yield* Layer.build(testServer({ handshakeTimeout: Duration.seconds(10) }))
    const { address } = yield* Effect.provide(RtmpServer, context)
    const { socket, closed } = yield* openSocket(address.port)
    socket.write(Buffer.of(3)) // C0, then silence
    let isClosed = false
    void closed.then(() => (isClosed = true))
    yield* Effect.promise(() => new Promise((r) => setTimeout(r, 200)))
    yield* TestClock.adjust("9 seconds")
    yield* Effect.promise(() => new Promise((r) => setTimeout(r, 200)))
    expect(isClosed).toBe(false)
    yield* TestClock.adjust("1 second")
    yield* Effect.promise(() => closed)
    expect(isClosed).toBe(true)
  }))
