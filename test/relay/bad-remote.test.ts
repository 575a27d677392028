/**
 * Bad remotes end in a typed error, a backoff and a log line; the server and its other relays carry on.
 */
import { expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { randomBytes } from "node:crypto"
import { RelayStatus } from "../../src/relay/health.js"
import { pullId } from "../../src/relay/relays.js"
import { parseRtmpUrl } from "../../src/relay/url.js"
import { isMedia, playAs, publishAs } from "../support/client.js"
import { fakeRtmpServer, fakeTcpServer } from "../support/fake-server.js"
import { pingRequests, writeThenDrain } from "../support/floods.js"
import { startServer } from "../support/server.js"

it.scopedLive("garbage handshake, _error on connect, and a silent server each end in a typed error and a backoff", () =>
  Effect.gen(function* () {
    const garbage = yield* fakeTcpServer((socket) => socket.write(Buffer.concat([Buffer.of(0x48), randomBytes(3000)])))
    const rejecting = yield* fakeRtmpServer((request, session) => {
      if (request._tag === "Connect") session.rejectConnect(request.transactionId, "go away")
    })
    const silent = yield* fakeTcpServer(() => {})
    const remotes = {
      garbage: parseRtmpUrl(`rtmp://127.0.0.1:${garbage.port}/live/a`),
      rejecting: parseRtmpUrl(`rtmp://127.0.0.1:${rejecting.port}/live/b`),
      silent: parseRtmpUrl(`rtmp://127.0.0.1:${silent.port}/live/c`)
    }
    const server = yield* startServer({
      pulls: [
        { remote: remotes.garbage, app: "live", name: "a" },
        { remote: remotes.rejecting, app: "live", name: "b" },
        { remote: remotes.silent, app: "live", name: "c" }
      ],
      timeout: Duration.millis(400)
    })
    const backoff = (id: string) => server.health.waitFor(id, (s) => s._tag === "Backoff").pipe(Effect.timeout("10 seconds"))
    const [g, r, s] = yield* Effect.all([
      backoff(pullId(remotes.garbage, "live", "a")),
      backoff(pullId(remotes.rejecting, "live", "b")),
      backoff(pullId(remotes.silent, "live", "c"))
    ], { concurrency: "unbounded" })
    const lastError = (status: RelayStatus) => (status._tag === "Backoff" ? status.lastError : "")
    expect(lastError(g)).toMatch(/^Handshake: RTMP version byte 72/)
    expect(lastError(r)).toMatch(/^Rejected: .*NetConnection\.Connect\.Rejected go away/)
    expect(lastError(s)).toMatch(/^Timeout: .*no handshake within/)
    // They keep retrying, and the server keeps serving.
    yield* server.health.waitFor(pullId(remotes.silent, "live", "c"), (st) => st._tag === "Backoff" && st.attempt >= 2).pipe(Effect.timeout("10 seconds"))
    yield* Effect.promise(async () => {
      const { client: publisher, streamId: id } = await publishAs(server.port, "alive")
      const player = await playAs(server.port, "alive")
      publisher.session.sendMedia(id, 9, 0, Buffer.from([0x17, 0x01, 0, 0, 0, 1]))
      await player.waitFor(isMedia)
      publisher.close()
      player.close()
    })
  }), 30_000)

it.scopedLive("a remote that floods pings and reads none of the answers is dropped once they pass the unread limit", () =>
  Effect.gen(function* () {
    const pings = pingRequests(1024 * 1024) // sent in 1 MB runs
    const flooding = yield* fakeRtmpServer((request, session, socket) => {
      if (request._tag === "Connect") {
        session.acceptConnect(request.transactionId, 0, request.app ?? "")
        socket.pause() // reads nothing from here on
        void (async () => {
          for (let sent = 0; sent < 256 && !socket.destroyed; sent++) await writeThenDrain(socket, pings, 200)
        })()
      }
      session.resume()
    })
    const remote = parseRtmpUrl(`rtmp://127.0.0.1:${flooding.port}/live/pings`)
    const server = yield* startServer(
      { pulls: [{ remote, app: "live", name: "pings" }], timeout: Duration.seconds(20) },
      { playerQueueSoftBytes: 256 * 1024, playerQueueHardBytes: 512 * 1024, gopCacheMaxBytes: 512 * 1024 }
    )
    const status = yield* server.health
      .waitFor(pullId(remote, "live", "pings"), (s) => s._tag === "Backoff")
      .pipe(Effect.timeout("20 seconds"))
    expect(status._tag === "Backoff" ? status.lastError : "").toMatch(/^SlowRemote: .*more than 1048576 bytes left unread/)
  }), 40_000)
