/** Connection timers run on Effect's clock, so the TestClock drives them without real waiting. */
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import * as net from "node:net"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { eventually, timersArmed } from "../support/poll.js"
import { testServer } from "../support/server.js"

const openSocket = (port: number) =>
  Effect.async<{ socket: net.Socket; state: { closed: boolean } }>((resume) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const state = { closed: false }
    socket.once("close", () => (state.closed = true))
    socket.on("error", () => {})
    socket.once("connect", () => resume(Effect.succeed({ socket, state })))
  })

it.scoped("a client that never completes the handshake is closed when the handshake timeout passes", () =>
  Effect.gen(function* () {
    const context = yield* Layer.build(testServer({ handshakeTimeout: Duration.seconds(10) }))
    const { address } = yield* Effect.provide(RtmpServer, context)
    const { state } = yield* openSocket(address.port).pipe(Effect.tap(({ socket }) => Effect.sync(() => socket.write(Buffer.of(3))))) // C0, then silence
    yield* timersArmed(10_000) // the handshake timeout is running
    yield* TestClock.adjust("9 seconds")
    yield* timersArmed(10_000) // still pending after 9 s: not fired (no sweep beside it: a connection registers after its handshake)
    expect(state.closed).toBe(false)
    yield* TestClock.adjust("1 second")
    yield* eventually("the connection to close", () => state.closed)
  }))
