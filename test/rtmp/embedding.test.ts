/** The README's embedding example, as a test: the server is a Layer an Effect app composes. */
import { expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel, Queue } from "effect"
import { Auth, RtmpServer, RtmpServerLive, ServerConfig, StreamRegistry } from "../../src/index.js"
import { connectClient, isStatus, openStream } from "../support/client.js"

it.scopedLive("an embedding app gets the listening address and stream lifecycle events", () =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      RtmpServerLive.pipe(
        Layer.provide(ServerConfig.layer({ host: "127.0.0.1", port: 0 })),
        Layer.provide(Auth.layer(Auth.open)),
        Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
      )
    )
    const { server, registry } = yield* Effect.all({ server: RtmpServer, registry: StreamRegistry }).pipe(Effect.provide(context))
    const events = yield* registry.subscribe
    const client = yield* Effect.promise(async () => {
      const client = await connectClient(server.address.port, "app")
      const id = await openStream(client)
      client.session.publish(id, "embedded")
      await client.waitFor(isStatus("NetStream.Publish.Start"))
      return client
    })
    const published = yield* Queue.take(events)
    expect(published).toMatchObject({ _tag: "Published", app: "app", name: "embedded" })
    expect((yield* registry.list).map((s) => `${s.app}/${s.name}`)).toEqual(["app/embedded"])
    client.close()
    const unpublished = yield* Queue.take(events)
    expect(unpublished._tag).toBe("Unpublished")
  }))
