/**
 * Each authorization mode end to end: ffmpeg publishes where it is allowed; wrong keys, bad or expired
 * tokens and denied callbacks are refused with the right status; no key ever reaches a log line.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import * as http from "node:http"
import { type Authorizer, httpCallback, keys, layer as authLayer, signToken, tokens } from "../../src/core/auth.js"
import { ServerConfig } from "../../src/core/config.js"
import { RtmpServer, RtmpServerLive } from "../../src/rtmp/listener.js"
import { connectClient, isMedia, openStream } from "../support/client.js"
import { ffmpegPublish, sleep } from "../support/processes.js"


/** A server whose every log line (all levels) is captured. */
const serverWith = (authorizer: Authorizer) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const capture = Logger.make(({ message, annotations }) => {
      lines.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])}`)
    })
    const context = yield* Layer.build(
      RtmpServerLive.pipe(
        Layer.provide(ServerConfig.layer({ host: "127.0.0.1", port: 0 })),
        Layer.provide(authLayer(authorizer)),
        Layer.provide(Logger.replace(Logger.defaultLogger, capture)),
        Layer.provide(Logger.minimumLogLevel(LogLevel.All))
      )
    )
    const server = yield* Effect.provide(RtmpServer, context)
    return { port: server.address.port, lines }
  })

/** Publishes with our client and returns the status code the server answered. */
const publishStatus = async (port: number, name: string) => {
  const client = await connectClient(port)
  const id = await openStream(client)
  client.session.publish(id, name)
  const status = await client.waitFor((e) => e._tag === "Status" && (e.code === "NetStream.Publish.Start" || e.level === "error"))
  const code = status._tag === "Status" ? status.code : ""
  if (code !== "NetStream.Publish.Start") await client.waitClosed()
  client.close()
  return code
}

const playStatus = async (port: number, name: string) => {
  const client = await connectClient(port)
  const id = await openStream(client)
  client.session.play(id, name)
  const status = await client.waitFor((e) => e._tag === "Status" && (e.code === "NetStream.Play.Start" || e.level === "error"))
  client.close()
  return status._tag === "Status" ? status.code : ""
}

describe("authorization", () => {
  it.scopedLive("publish keys: the key maps to a public name; wrong keys and playing by key are refused; no key in logs", () =>
    Effect.gen(function* () {
      const { port, lines } = yield* serverWith(keys(new Map([["k3y-s3cr3t", "show"]])))
      yield* Effect.promise(async () => {
        const player = await connectClient(port)
        const id = await openStream(player)
        player.session.play(id, "show")
        const publisher = ffmpegPublish(`rtmp://127.0.0.1:${port}/live/k3y-s3cr3t`, 3)
        await player.waitFor((e) => isMedia(e) && e.message.typeId === 9)
        expect(await publishStatus(port, "wrong-key")).toBe("NetStream.Publish.BadName")
        expect(await playStatus(port, "k3y-s3cr3t")).toBe("NetStream.Play.Failed")
        expect((await publisher.done).code).toBe(0)
        player.close()
      })
      yield* Effect.promise(() => sleep(200))
      expect(lines.some((l) => l.includes("Publishing live/show"))).toBe(true)
      expect(lines.filter((l) => l.includes("k3y-s3cr3t"))).toEqual([])
      expect(lines.filter((l) => l.includes("wrong-key"))).toEqual([])
    }), 60_000)

  it.scopedLive("signed tokens: a valid token publishes; a bad or expired one is refused", () =>
    Effect.gen(function* () {
      const secret = Redacted.make("shared-secret")
      const { port, lines } = yield* serverWith(tokens(secret, true))
      const now = Math.floor(Date.now() / 1000)
      const valid = `cam?token=${signToken(secret, "live", "cam", now + 600)}&expires=${now + 600}`
      const expired = `cam?token=${signToken(secret, "live", "cam", now - 10)}&expires=${now - 10}`
      const forged = `cam?token=${"0".repeat(64)}&expires=${now + 600}`
      yield* Effect.promise(async () => {
        const publisher = ffmpegPublish(`rtmp://127.0.0.1:${port}/live/${valid}`, 3)
        await sleep(1500)
        expect(await playStatus(port, "cam")).toBe("NetStream.Play.Failed") // players need a token too
        expect(await playStatus(port, valid)).toBe("NetStream.Play.Start")
        expect(await publishStatus(port, expired)).toBe("NetStream.Publish.BadName")
        expect(await publishStatus(port, forged)).toBe("NetStream.Publish.BadName")
        expect((await publisher.done).code).toBe(0)
      })
      expect(lines.some((l) => l.includes("Publishing live/cam"))).toBe(true)
      expect(lines.filter((l) => l.includes("token="))).toEqual([])
    }), 60_000)

  it.scopedLive("HTTP callback: 2xx allows, 403 and a timeout deny", () =>
    Effect.gen(function* () {
      const calls: Array<string> = []
      const callback = yield* Effect.acquireRelease(
        Effect.async<http.Server>((resume) => {
          const server = http.createServer((req, res) => {
            let body = ""
            req.on("data", (d) => (body += d))
            req.on("end", () => {
              const form = new URLSearchParams(body)
              calls.push(`${form.get("call")} ${form.get("app")}/${form.get("name")}`)
              if (form.get("name") === "slow") return // never answers
              res.statusCode = form.get("name")?.startsWith("ok") ? 204 : 403
              res.end()
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.closeAllConnections()).pipe(Effect.zipRight(Effect.async<void>((r) => void server.close(() => r(Effect.void)))))
      )
      const address = callback.address() as { port: number }
      const { port } = yield* serverWith(httpCallback(`http://127.0.0.1:${address.port}/auth`, Duration.millis(500)))
      yield* Effect.promise(async () => {
        const publisher = ffmpegPublish(`rtmp://127.0.0.1:${port}/live/ok-cam`, 2)
        expect((await publisher.done).code).toBe(0)
        expect(await publishStatus(port, "denied")).toBe("NetStream.Publish.BadName")
        expect(await publishStatus(port, "slow")).toBe("NetStream.Publish.BadName")
        expect(await playStatus(port, "ok-cam")).toBe("NetStream.Play.Start")
        expect(await playStatus(port, "nope")).toBe("NetStream.Play.Failed")
      })
      expect(calls).toEqual(expect.arrayContaining(["publish live/ok-cam", "publish live/denied", "publish live/slow", "play live/ok-cam", "play live/nope"]))
    }), 60_000)
})
