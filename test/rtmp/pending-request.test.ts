/**
 * A connection that ends while one of its requests is still being decided (an authorization that takes its
 * time): the decision is interrupted, the close is logged with its reason, and nothing the request would
 * have done happens later.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { type Authorizer, open } from "../../src/core/auth.js"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { connectClient, isStatus, openStream } from "../support/client.js"
import { waitUntil } from "../support/poll.js"
import { testServer } from "../support/server.js"

it.scopedLive("a publisher that leaves while its publish is being authorized: the authorization is interrupted, the close logged, the stream free", () =>
  Effect.gen(function* () {
    const state = { asked: 0, interrupted: 0 }
    const slow: Authorizer = {
      ...open,
      // The first publish waits forever (an authorization service that does not answer); later ones pass.
      publish: (request) =>
        state.asked++ === 0
          ? Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => void state.interrupted++)))
          : Effect.succeed({ name: request.name }),
      description: "slow"
    }
    const logs: Array<string> = []
    const capture = Logger.make(({ logLevel, message }) => {
      if (LogLevel.greaterThanEqual(logLevel, LogLevel.Info)) logs.push(String(Array.isArray(message) ? message.join(" ") : message))
    })
    const context = yield* Layer.build(
      testServer({}, slow, LogLevel.Info).pipe(Layer.provide(Logger.replace(Logger.defaultLogger, capture)))
    )
    const { address } = yield* Effect.provide(RtmpServer, context)
    yield* Effect.promise(async () => {
      const first = await connectClient(address.port)
      first.session.publish(await openStream(first), "cam")
      await waitUntil("the authorization to be asked", () => state.asked === 1)
      first.close()
      await waitUntil("the authorization to be interrupted", () => state.interrupted === 1)
      await waitUntil("the close to be logged", () => logs.some((l) => l === "Connection closed: peer closed the connection"))

      const second = await connectClient(address.port)
      second.session.publish(await openStream(second), "cam")
      await second.waitFor(isStatus("NetStream.Publish.Start"))
      second.close()
    })
    expect(state).toEqual({ asked: 2, interrupted: 1 })
    expect(logs.filter((l) => l.startsWith("Publishing live/cam"))).toHaveLength(1)
  }))
