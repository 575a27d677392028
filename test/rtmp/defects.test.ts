/**
 * A bug on the control path (here: an authorizer that throws) is a defect: it is logged at Error with
 * its cause and the connection closes at once, instead of idling paused until the ping timeout.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { type Authorizer, open } from "../../src/core/auth.js"
import { RtmpServer } from "../../src/rtmp/listener.js"
import { connectClient, isStatus, openStream, playAs } from "../support/client.js"
import { testServer } from "../support/server.js"

const buggy: Authorizer = {
  ...open,
  publish: () =>
    Effect.sync(() => {
      const settings = JSON.parse("{}") as { limits: { max: number } } // a setting the code wrongly assumes
      return settings.limits.max // throws a TypeError, as a real bug would
    }).pipe(Effect.as({ name: "never", credential: undefined })),
  description: "buggy"
}

it.scopedLive("a thrown TypeError in the request handler closes that connection within a second and is logged at Error", () =>
  Effect.gen(function* () {
    const logs: Array<{ level: LogLevel.LogLevel; message: string; cause: string }> = []
    const capture = Logger.make(({ logLevel, message, cause }) => {
      logs.push({ level: logLevel, message: String(Array.isArray(message) ? message.join(" ") : message), cause: String(cause) })
    })
    const context = yield* Layer.build(testServer({}, buggy).pipe(Layer.provide(Logger.replace(Logger.defaultLogger, capture))))
    const { address } = yield* Effect.provide(RtmpServer, context)
    yield* Effect.promise(async () => {
      const bystander = await playAs(address.port, "other") // another connection, unharmed
      const client = await connectClient(address.port)
      const id = await openStream(client)
      const askedAt = Date.now()
      client.session.publish(id, "cam")
      await client.waitClosed(1000)
      expect(Date.now() - askedAt).toBeLessThan(1000)
      expect(client.events.some(isStatus("NetStream.Publish.Start"))).toBe(false)
      expect(bystander.closed).toBe(false)
      bystander.close()
    })
    const defect = logs.find((l) => l.level === LogLevel.Error)
    expect(defect?.message).toMatch(/defect: TypeError: Cannot read properties of undefined \(reading 'max'\)/)
    expect(defect?.cause).toMatch(/TypeError/)
  }))
