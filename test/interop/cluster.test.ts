/**
 * The cluster with real processes on loopback ports: a redis-server started (and killed -9, and restarted)
 * by the test, effect-rtmp nodes from the built CLI, ffmpeg publishers and players, HAProxy in TCP mode.
 * TTLs are 2 s and the close-after delay 2 s, so failover happens within a few seconds.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { decodedFrames, decoderErrors, ffmpegPlay, ffmpegPublish, type Running, start } from "../support/processes.js"
import { isMedia, isStatus, playAs, type TestClient } from "../support/client.js"
import { waitUntil } from "../support/poll.js"
import { buildCli, type Node, killAll, playersOf, redisAvailable, haproxyAvailable, startHaProxy, startNode, startRedis } from "../support/cluster.js"

const play = (url: string, seconds: number) => ffmpegPlay(url, 60_000, { output: ["-t", String(seconds)] })

interface ClusterJson {
  readonly node: { readonly id: string; readonly state: string }
  readonly nodes: ReadonlyArray<{ readonly id: string }>
  readonly streams: ReadonlyArray<{ readonly stream: string; readonly owner: string }>
}

const publishers: Array<Running> = []
const publish = (url: string, seconds: number) => {
  const running = ffmpegPublish(url, seconds)
  publishers.push(running)
  return running
}
const clients: Array<TestClient> = []

afterEach(() => {
  for (const p of publishers.splice(0)) p.kill()
  for (const c of clients.splice(0)) c.close()
  killAll()
})

const mediaCount = (client: TestClient) => client.events.filter(isMedia).length
const ownerOn = async (node: Node, stream: string) => (await node.api<ClusterJson>("/api/v1/cluster")).streams.find((s) => s.stream === stream)?.owner

describe.runIf(redisAvailable())("cluster on Redis", () => {
  beforeAll(() => buildCli(), 120_000)

  it("publish to A, 5 RTMP + 2 HTTP-FLV viewers on B: one upstream B→A, all decode, B names A as owner; the upstream closes after the delay and a play inside it reuses it", async () => {
    const redis = await startRedis()
    const [a, b] = await Promise.all([startNode("A", redis.url), startNode("B", redis.url)])
    publish(`rtmp://127.0.0.1:${a.rtmpPort}/live/show`, 40)
    await waitUntil("A owns live/show", async () => (await ownerOn(b, "live/show")) === "A", 15_000)
    // A second publisher of the name, on another node, is refused like a local duplicate.
    const duplicate = await publish(`rtmp://127.0.0.1:${b.rtmpPort}/live/show`, 5).done
    expect(duplicate.code).not.toBe(0)
    await waitUntil("B logs the refusal", () => /live\/show is already published by node A/.test(b.output()), 5_000, 50)
    const viewers = [
      ...Array.from({ length: 5 }, () => play(`rtmp://127.0.0.1:${b.rtmpPort}/live/show`, 4)),
      ...Array.from({ length: 2 }, () => play(`http://127.0.0.1:${b.httpPort}/live/show.flv`, 4))
    ]
    await waitUntil("the upstream", async () => (await playersOf(a, "live/show")).length === 1, 15_000)
    const upstream = (await playersOf(a, "live/show"))[0]?.id
    const results = await Promise.all(viewers.map((v) => v.done))
    for (const result of results) {
      expect(decodedFrames(result.stdout), result.stderr.slice(-500)).toBeGreaterThanOrEqual(50)
      expect(decoderErrors(result.stderr)).toEqual([])
    }
    expect((await playersOf(a, "live/show")).map((c) => c.id)).toEqual([upstream]) // still exactly one, the same
    expect(await ownerOn(b, "live/show")).toBe("A")

    // Inside the close-after window a new viewer reuses the upstream...
    const again = play(`rtmp://127.0.0.1:${b.rtmpPort}/live/show`, 2)
    expect(decodedFrames((await again.done).stdout)).toBeGreaterThan(20)
    expect((await playersOf(a, "live/show")).map((c) => c.id)).toEqual([upstream])
    // ...and with nobody watching, it closes after the delay (2 s here).
    const left = Date.now()
    await waitUntil("the upstream closes", async () => (await playersOf(a, "live/show")).length === 0, 10_000, 100)
    expect(Date.now() - left).toBeGreaterThanOrEqual(1500)
  }, 120_000)

  it("kill -9 A while its publisher moves to C: B's viewers stay connected and resume from C within 10 s", async () => {
    const redis = await startRedis()
    const [a, b, c] = await Promise.all([startNode("A", redis.url), startNode("B", redis.url), startNode("C", redis.url)])
    publish(`rtmp://127.0.0.1:${a.rtmpPort}/live/move`, 60)
    await waitUntil("A owns live/move", async () => (await ownerOn(b, "live/move")) === "A", 15_000)
    const viewer = await playAs(b.rtmpPort, "move")
    clients.push(viewer)
    await waitUntil("the viewer on B gets media", () => mediaCount(viewer) > 25, 15_000)
    await a.kill9()
    const killed = Date.now()
    // The encoder reconnects to another node; C's claim succeeds once A's heartbeat has expired.
    for (let tries = 0; ; tries++) {
      const moved = publish(`rtmp://127.0.0.1:${c.rtmpPort}/live/move`, 60)
      const outcome = await Promise.race([moved.done.then(() => "refused"), waitUntil("C owns it", async () => (await ownerOn(b, "live/move")) === "C", 3_000).then(() => "ok", () => "wait")])
      if (outcome === "ok") break
      moved.kill()
      if (tries > 10) throw new Error("C never took the stream")
    }
    const before = mediaCount(viewer)
    await waitUntil("B's viewer resumes from C", () => mediaCount(viewer) > before + 25, 10_000)
    expect(Date.now() - killed).toBeLessThan(10_000)
    expect(viewer.closed).toBe(false)
    expect(viewer.events.some(isStatus("NetStream.Play.UnpublishNotify"))).toBe(true)
    expect(viewer.events.filter(isStatus("NetStream.Play.PublishNotify")).length).toBeGreaterThanOrEqual(1)
  }, 120_000)

  it("a static pull configured on A, B and C runs exactly once, and once again within 15 s after kill -9 of its runner", async () => {
    const redis = await startRedis()
    const remote = await startNode("R", undefined)
    publish(`rtmp://127.0.0.1:${remote.rtmpPort}/live/cam`, 90)
    await waitUntil("the remote is live", async () => (await remote.api<{ streams: Array<unknown> }>("/api/v1/streams")).streams.length === 1, 15_000)
    const pull = ["--pull", `rtmp://127.0.0.1:${remote.rtmpPort}/live/cam=live/cam`, "--relay-retry-base", "0.3", "--relay-retry-max", "1"]
    const nodes = await Promise.all(["A", "B", "C"].map((id) => startNode(id, redis.url, pull)))
    await waitUntil("one pull at the remote", async () => (await playersOf(remote, "live/cam")).length === 1, 15_000)
    // Stays one (the others only try the lease).
    await new Promise((r) => setTimeout(r, 3000))
    expect((await playersOf(remote, "live/cam")).length).toBe(1)
    const runner = nodes.find((n) => n.output().includes("runs on this node"))
    expect(runner).toBeDefined()
    await runner?.kill9()
    const killed = Date.now()
    await waitUntil("the pull runs again", async () => (await playersOf(remote, "live/cam")).length === 1 && nodes.some((n) => n !== runner && n.output().includes("runs on this node")), 15_000, 200)
    expect(Date.now() - killed).toBeLessThan(15_000)
    await new Promise((r) => setTimeout(r, 3000))
    expect((await playersOf(remote, "live/cam")).length).toBe(1)
  }, 120_000)

  it("kill -9 Redis: local publish and play go on, remote plays fail fast; Redis back on the same port: the directory repopulates", async () => {
    const redis = await startRedis()
    const [a, b] = await Promise.all([startNode("A", redis.url), startNode("B", redis.url)])
    publish(`rtmp://127.0.0.1:${a.rtmpPort}/live/before`, 60)
    await waitUntil("A owns live/before", async () => (await ownerOn(b, "live/before")) === "A", 15_000)
    await redis.kill9()
    await waitUntil("B degraded", async () => (await b.api<ClusterJson>("/api/v1/cluster")).node.state === "Degraded", 10_000)
    // Local publish and play on A.
    publish(`rtmp://127.0.0.1:${a.rtmpPort}/live/local`, 30)
    await waitUntil("live/local is live on A", async () => (await a.api<{ streams: Array<{ name: string; live: boolean }> }>("/api/v1/streams")).streams.some((s) => s.name === "local" && s.live), 15_000)
    const local = await play(`rtmp://127.0.0.1:${a.rtmpPort}/live/local`, 3).done
    expect(decodedFrames(local.stdout)).toBeGreaterThan(40)
    // A remote play on B fails fast with a clear reason.
    const asked = Date.now()
    const refused = play(`rtmp://127.0.0.1:${b.rtmpPort}/live/local`, 3)
    const result = await refused.done
    expect(Date.now() - asked).toBeLessThan(5_000)
    expect(decodedFrames(result.stdout)).toBe(0)
    // The node's log reaches us through a pipe, possibly after ffmpeg has exited.
    await waitUntil("B logs why", () => /cluster directory \(Redis\) is unavailable/.test(b.output()), 5_000, 50)
    await redis.restart()
    await waitUntil("the directory repopulates", async () => {
      const cluster = await b.api<ClusterJson>("/api/v1/cluster")
      return cluster.node.state === "Ready" && cluster.nodes.length === 2 && (await ownerOn(b, "live/local")) === "A" && (await ownerOn(b, "live/before")) === "A"
    }, 15_000, 200)
    const remote = await play(`rtmp://127.0.0.1:${b.rtmpPort}/live/local`, 3).done
    expect(decodedFrames(remote.stdout)).toBeGreaterThan(40)
  }, 120_000)

  it("a publish for a stream another live node ingests is refused, unless it proves the same credential: then it takes over and the old node lets go", async () => {
    const redis = await startRedis()
    const keys = ["--publish-key", "k3y=cam"]
    const [a, b] = await Promise.all([startNode("A", redis.url, keys), startNode("B", redis.url, keys)])
    const first = publish(`rtmp://127.0.0.1:${a.rtmpPort}/live/k3y`, 60)
    await waitUntil("A owns live/cam", async () => (await ownerOn(b, "live/cam")) === "A", 15_000)
    first.process.kill("SIGSTOP") // a frozen encoder: its connection stays open
    const again = publish(`rtmp://127.0.0.1:${b.rtmpPort}/live/k3y`, 60)
    await waitUntil("B owns live/cam", async () => (await ownerOn(a, "live/cam")) === "B", 10_000, 200)
    await waitUntil("A let its publisher go", () => a.output().includes("is now published on node B"), 10_000, 200)
    first.process.kill("SIGCONT")
    const viewer = await play(`rtmp://127.0.0.1:${a.rtmpPort}/live/cam`, 3).done // A is now an edge of B's stream
    expect(decodedFrames(viewer.stdout)).toBeGreaterThan(40)
    again.kill()
  }, 120_000)

  it("LL-HLS on an edge: the first playlist request starts the pull, ffprobe reads the edge's playlist", async () => {
    const redis = await startRedis()
    const [a, b] = await Promise.all([startNode("A", redis.url, [], { hls: true }), startNode("B", redis.url, [], { hls: true })])
    publish(`rtmp://127.0.0.1:${a.rtmpPort}/live/hls`, 40)
    await waitUntil("A owns live/hls", async () => (await ownerOn(b, "live/hls")) === "A", 15_000)
    const playlist = `http://127.0.0.1:${b.httpPort}/live/hls.m3u8`
    await waitUntil("B serves the playlist", async () => (await fetch(playlist)).status === 200, 20_000, 250)
    const probe = await start("ffprobe", ["-v", "error", "-show_streams", "-of", "json", playlist], 30_000).done
    const streams = (JSON.parse(probe.stdout) as { streams: Array<{ codec_type: string }> }).streams.map((s) => s.codec_type).sort()
    expect(streams).toEqual(["audio", "video"])
    expect((await playersOf(a, "live/hls")).length).toBe(1)
  }, 120_000)

  it.runIf(haproxyAvailable())("through HAProxy in TCP mode in front of two nodes: ffmpeg publishes and plays, whichever node each lands on", async () => {
    const redis = await startRedis()
    const [a, b] = await Promise.all([startNode("A", redis.url), startNode("B", redis.url)])
    const proxy = await startHaProxy([a.rtmpPort, b.rtmpPort])
    publish(`rtmp://127.0.0.1:${proxy.port}/live/lb`, 40)
    await waitUntil("someone owns live/lb", async () => (await ownerOn(a, "live/lb")) !== undefined, 15_000)
    const plays = [play(`rtmp://127.0.0.1:${proxy.port}/live/lb`, 3), play(`rtmp://127.0.0.1:${proxy.port}/live/lb`, 3)]
    for (const result of await Promise.all(plays.map((p) => p.done))) {
      expect(decodedFrames(result.stdout)).toBeGreaterThan(40)
      expect(decoderErrors(result.stderr)).toEqual([])
    }
    // Round robin sent the two players to different nodes: one of them pulled from the owner.
    const owner = (await ownerOn(a, "live/lb")) === "A" ? a : b
    expect(owner.output()).not.toMatch(/pulling it from its owner/)
    expect((owner === a ? b : a).output()).toMatch(/live\/lb is not ingested here; pulling it from its owner/)
  }, 120_000)
})
