/**
 * A bounded raw-socket fuzzer against a live server: each case completes a real handshake, then sends a
 * mutated publisher session. Meanwhile a healthy publisher streams to a healthy player, which must never
 * stall; afterwards every fuzz connection is released and the heap has not grown without bound.
 */
import { expect, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import fc from "fast-check"
import * as net from "node:net"
import { ClientHandshake } from "../../src/protocol/handshake.js"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { isMedia, playAs, syntheticPublisher } from "../support/client.js"
import { sleep } from "../support/processes.js"
import { testServer } from "../support/server.js"
import { type Mutation, mutate, validPublisherStream } from "./sessions.js"

const CASES = 240
const CONCURRENCY = 24

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) })
)

/** Handshakes, sends `payload`, and closes after `lingerMs` unless the server closed first. */
const fuzzConnection = (port: number, payload: Buffer, lingerMs: number) =>
  new Promise<"closed-by-server" | "closed-by-us">((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port, noDelay: true })
    const handshake = new ClientHandshake()
    let done = false
    let timer: NodeJS.Timeout | undefined
    socket.on("error", () => {})
    socket.on("connect", () => socket.write(handshake.start()))
    socket.on("data", (bytes) => {
      if (done) return
      const step = handshake.receive(bytes)
      if (step.send) socket.write(step.send)
      if (step._tag !== "Done") return
      done = true
      socket.write(payload)
      timer = setTimeout(() => {
        socket.destroy()
        resolve("closed-by-us")
      }, lingerMs)
    })
    socket.on("close", () => {
      if (timer) clearTimeout(timer)
      resolve("closed-by-server")
    })
  })

layer(testServer({ handshakeTimeout: Duration.seconds(2) }), { excludeTestServices: true, timeout: 30_000 })("live server fuzzing", (it) => {
  it.effect(`${CASES} mutated sessions over real sockets: no crash, the healthy player never stalls, memory bounded`, () =>
    Effect.gen(function* () {
      const server = yield* RtmpServer
      const port = server.address.port
      const outcome = yield* Effect.promise(async () => {
        const publisher = await syntheticPublisher(port, "healthy", 1200)
        const player = await playAs(port, "healthy")
        await player.waitFor(isMedia)

        const heapBefore = process.memoryUsage().heapUsed
        const valid = validPublisherStream()
        const cases = fc.sample(fc.array(mutation, { minLength: 1, maxLength: 8 }), { numRuns: CASES, seed: 20261124 })
        let longestStall = 0
        let lastCount = player.events.length
        let lastProgress = Date.now()
        const watch = setInterval(() => {
          const count = player.events.filter(isMedia).length
          if (count !== lastCount) {
            lastCount = count
            lastProgress = Date.now()
          }
          longestStall = Math.max(longestStall, Date.now() - lastProgress)
        }, 50)
        const results: Array<string> = []
        for (let i = 0; i < cases.length; i += CONCURRENCY) {
          const batch = cases.slice(i, i + CONCURRENCY).map((m) => fuzzConnection(port, mutate(valid, m), 150))
          results.push(...(await Promise.all(batch)))
        }
        await sleep(500)
        clearInterval(watch)
        publisher.stop()
        const open = await Effect.runPromise(server.connectionCount)
        const heapGrowth = process.memoryUsage().heapUsed - heapBefore
        publisher.client.close()
        player.close()
        return { results, longestStall, open, heapGrowth, playerClosed: player.closed }
      })
      expect(outcome.results).toHaveLength(CASES)
      expect(outcome.longestStall).toBeLessThan(2000)
      expect(outcome.open).toBe(2) // the healthy publisher and player: every fuzz connection was released
      expect(outcome.heapGrowth).toBeLessThan(150 * 1024 * 1024)
      process.stdout.write(
        `server fuzz: ${CASES} cases, ${outcome.results.filter((r) => r === "closed-by-server").length} closed by the server, ` +
          `longest player stall ${outcome.longestStall} ms, heap growth ${(outcome.heapGrowth / 1048576).toFixed(1)} MiB\n`
      )
    }), 120_000)
})
