/**
 * RTMPS with real peers: a test CA and certificates made by openssl; ffmpeg 5.1 (gnutls) publishing and
 * playing with verification on; certificate reload seen by the next connection; HTTPS on the HTTP face;
 * relays over RTMPS between two instances and through a TLS terminator to nginx-rtmp; and the ways
 * trust fails (unknown CA, wrong name, wrong pin) as typed relay errors with backoff.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as https from "node:https"
import * as path from "node:path"
import { parseRtmpUrl } from "../../src/relay/url.js"
import { makeTestCa, type TestCa } from "../support/certs.js"
import { isMedia, playAs, syntheticPublisher } from "../support/client.js"
import { makeNginx, nginxAvailable } from "../support/nginx.js"
import { freePort } from "../support/ports.js"
import { eventually, waitUntil } from "../support/poll.js"
import { decodedFrames, decoderErrors, FPS, ffmpegPlay, ffmpegPublish, sleep } from "../support/processes.js"
import { startHttpServer, startServer } from "../support/server.js"
import { presentedFingerprint, startTlsProxy } from "../support/tls-proxy.js"

let ca: TestCa
beforeAll(() => {
  ca = makeTestCa()
})
afterAll(() => ca.cleanup())

const httpsGet = (port: number, pathname: string, caFile: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    https
      .get({ host: "127.0.0.1", port, path: pathname, servername: "localhost", ca: fs.readFileSync(caFile) }, (response) => {
        let body = ""
        response.on("data", (c: Buffer) => (body += c.toString()))
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
      })
      .on("error", reject)
  })

describe("RTMPS", () => {
  it.scopedLive("ffmpeg 5.1 publishes to and plays from rtmps://localhost with -tls_verify 1; HTTPS serves the same face", () =>
    Effect.gen(function* () {
      const leaf = ca.leaf("server")
      const server = yield* startHttpServer({ tlsCert: Option.some(leaf.cert), tlsKey: Option.some(leaf.key), rtmpsPort: 0, httpsPort: 0 })
      expect(server.rtmpsPort).toBeGreaterThan(0)
      const seconds = 5
      const result = yield* Effect.promise(async () => {
        const publisher = ffmpegPublish(`rtmps://localhost:${server.rtmpsPort}/live/secure`, seconds, ["-tls_verify", "1", "-ca_file", ca.caCert])
        await waitUntil("the stream is live", () => server.registry.streams.pipe(Effect.runSync).some((s) => s.name === "secure" && s.isLive), 20_000)
        const player = ffmpegPlay(`rtmps://localhost:${server.rtmpsPort}/live/secure`, 60_000, { input: ["-tls_verify", "1", "-ca_file", ca.caCert] })
        const published = await publisher.done
        return { published, played: await player.done }
      })
      expect(result.published.code, result.published.stderr).toBe(0)
      expect(decodedFrames(result.played.stdout)).toBeGreaterThanOrEqual(2 * FPS)
      expect(decoderErrors(result.played.stderr)).toEqual([])
      const api = yield* Effect.promise(() => httpsGet(server.httpsPort, "/api/v1/streams", ca.caCert))
      expect(api.status).toBe(200)
      const page = yield* Effect.promise(() => httpsGet(server.httpsPort, "/", ca.caCert))
      expect(page.status).toBe(200)
    }), 90_000)

  it.scopedLive("a certificate swapped on disk is presented to the next connection (RTMPS and HTTPS)", () =>
    Effect.gen(function* () {
      const first = ca.leaf("swap-a")
      const second = ca.leaf("swap-b")
      const certPath = path.join(ca.dir, "live-cert.pem")
      const keyPath = path.join(ca.dir, "live-key.pem")
      fs.copyFileSync(first.cert, certPath)
      fs.copyFileSync(first.key, keyPath)
      const server = yield* startHttpServer({ tlsCert: Option.some(certPath), tlsKey: Option.some(keyPath), rtmpsPort: 0, httpsPort: 0 })
      expect(yield* Effect.promise(() => presentedFingerprint(server.rtmpsPort))).toBe(first.fingerprint256)
      // An atomic replace, as certbot and friends do it: new files renamed over the old ones.
      fs.copyFileSync(second.key, `${keyPath}.new`)
      fs.copyFileSync(second.cert, `${certPath}.new`)
      fs.renameSync(`${keyPath}.new`, keyPath)
      fs.renameSync(`${certPath}.new`, certPath)
      yield* eventually("RTMPS presents the new certificate", async () => (await presentedFingerprint(server.rtmpsPort)) === second.fingerprint256, 15_000)
      yield* eventually("HTTPS presents the new certificate", async () => (await presentedFingerprint(server.httpsPort)) === second.fingerprint256, 15_000)
    }), 60_000)

  it.scopedLive("pull and push over RTMPS between two instances (private CA): ffmpeg decodes the round trip", () =>
    Effect.gen(function* () {
      const leaf = ca.leaf("origin")
      const origin = yield* startServer({}, { tlsCert: Option.some(leaf.cert), tlsKey: Option.some(leaf.key), rtmpsPort: 0 })
      const tls = { ca: fs.readFileSync(ca.caCert), fingerprint: undefined, insecure: false }
      yield* startServer({
        tls,
        pulls: [{ remote: parseRtmpUrl(`rtmps://localhost:${origin.securePort}/live/src`), app: "live", name: "pulled" }],
        pushes: [{ app: "live", name: "pulled", remote: parseRtmpUrl(`rtmps://localhost:${origin.securePort}/live/back`) }]
      })
      const seconds = 8
      const played = yield* Effect.promise(async () => {
        const publisher = ffmpegPublish(`rtmp://127.0.0.1:${origin.port}/live/src`, seconds)
        await waitUntil("the round trip is live", () => origin.registry.streams.pipe(Effect.runSync).some((s) => s.name === "back" && s.isLive), 20_000)
        const player = ffmpegPlay(`rtmp://127.0.0.1:${origin.port}/live/back`, 60_000)
        await publisher.done
        return player.done
      })
      expect(decodedFrames(played.stdout)).toBeGreaterThanOrEqual(2 * FPS)
      expect(decoderErrors(played.stderr)).toEqual([])
    }), 90_000)

  it.scopedLive.skipIf(!nginxAvailable())("push over RTMPS through a TLS terminator to nginx-rtmp", () =>
    Effect.gen(function* () {
      const leaf = ca.leaf("terminator")
      const nginx = makeNginx(yield* Effect.promise(freePort))
      yield* Effect.acquireRelease(Effect.promise(() => nginx.start()), () => Effect.promise(() => nginx.stop()))
      const proxy = yield* Effect.acquireRelease(Effect.promise(() => startTlsProxy(leaf.cert, leaf.key, nginx.port)), (p) => Effect.promise(() => p.close()))
      const server = yield* startServer({
        tls: { ca: fs.readFileSync(ca.caCert), fingerprint: undefined, insecure: false },
        pushes: [{ app: "live", name: "src", remote: parseRtmpUrl(`rtmps://localhost:${proxy.port}/live/pushed`) }]
      })
      const seconds = 6
      const played = yield* Effect.promise(async () => {
        const publisher = ffmpegPublish(`rtmp://127.0.0.1:${server.port}/live/src`, seconds)
        await waitUntil("the push is live", async () => (await Effect.runPromise(server.health.all)).some((r) => r.status._tag === "Live"), 20_000)
        await sleep(300)
        const player = ffmpegPlay(`rtmp://127.0.0.1:${nginx.port}/live/pushed`, 60_000)
        await publisher.done
        return player.done
      })
      expect(decodedFrames(played.stdout)).toBeGreaterThanOrEqual(2 * FPS)
      expect(decoderErrors(played.stderr)).toEqual([])
    }), 90_000)

  it.scopedLive("unknown CA, wrong name, wrong fingerprint: typed Tls errors with backoff; the local stream is unaffected", () =>
    Effect.gen(function* () {
      const right = ca.leaf("right")
      const wrongName = ca.leaf("wrong-name", ["wrong.example"])
      const stranger = ca.selfSigned("stranger")
      const origin = yield* startServer({}, { tlsCert: Option.some(right.cert), tlsKey: Option.some(right.key), rtmpsPort: 0 })
      const misnamed = yield* startServer({}, { tlsCert: Option.some(wrongName.cert), tlsKey: Option.some(wrongName.key), rtmpsPort: 0 })
      const unknown = yield* startServer({}, { tlsCert: Option.some(stranger.cert), tlsKey: Option.some(stranger.key), rtmpsPort: 0 })
      const unknownCa = `rtmps://localhost:${unknown.securePort}/live/a`
      const badName = `rtmps://localhost:${misnamed.securePort}/live/b`
      const badPin = `rtmps://localhost:${origin.securePort}/live/c#fingerprint=${"00".repeat(32)}`
      const edge = yield* startServer({
        pulls: [
          { remote: parseRtmpUrl(unknownCa), app: "live", name: "a" },
          { remote: parseRtmpUrl(badName), app: "live", name: "b" },
          { remote: parseRtmpUrl(badPin), app: "live", name: "c" }
        ],
        tls: { ca: fs.readFileSync(ca.caCert), fingerprint: undefined, insecure: false }
      })
      const local = yield* Effect.promise(() => syntheticPublisher(edge.port, "local"))
      yield* Effect.addFinalizer(() => Effect.sync(() => local.stop()))
      const player = yield* Effect.promise(() => playAs(edge.port, "local"))
      yield* Effect.addFinalizer(() => Effect.sync(() => player.close()))
      const failures = async () => (await Effect.runPromise(edge.health.all)).filter((r) => r.status._tag === "Backoff" && r.status.attempt >= 2)
      yield* eventually("all three pulls back off twice", async () => (await failures()).length === 3, 20_000)
      const lastErrors = (yield* Effect.promise(failures)).map((r) => (r.status._tag === "Backoff" ? r.status.lastError : ""))
      for (const error of lastErrors) expect(error).toMatch(/^Tls: /)
      expect(lastErrors.join("\n")).toMatch(/fingerprint/)
      const mediaBefore = player.events.filter(isMedia).length
      yield* eventually("the local player keeps receiving", () => player.events.filter(isMedia).length > mediaBefore + 20, 5_000)
    }), 60_000)
})
