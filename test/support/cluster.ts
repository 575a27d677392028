/**
 * Cluster tests with real processes: a `redis-server` on a loopback port (killable with -9 and restartable on
 * the same port), effect-rtmp nodes from the built CLI (`dist/server.mjs`), and HAProxy in TCP mode.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { freePort } from "./ports.js"
import { waitUntil } from "./poll.js"

const root = path.resolve(import.meta.dirname, "../..")

export const redisAvailable = (): boolean => fs.existsSync("/usr/bin/redis-server")
export const haproxyAvailable = (): boolean => fs.existsSync("/usr/sbin/haproxy")

/** Builds `dist/` once per test file (the CLI is what users run). */
export const buildCli = () => execFileSync("npm", ["run", "build"], { cwd: root, stdio: "pipe" })

const spawned = new Set<ChildProcess>()
/** Every process a test started, killed at the end whatever happened. */
export const killAll = () => {
  for (const child of spawned) if (child.exitCode === null) child.kill("SIGKILL")
  spawned.clear()
}

export interface Redis {
  readonly port: number
  readonly url: string
  kill9(): Promise<void>
  restart(): Promise<void>
}

const waitPing = (port: number) =>
  waitUntil(`redis on ${port}`, () => {
    try {
      return execFileSync("redis-cli", ["-p", String(port), "ping"], { stdio: "pipe" }).toString().trim() === "PONG"
    } catch {
      return false
    }
  }, 10_000, 50)

export const startRedis = async (): Promise<Redis> => {
  const port = await freePort()
  let child: ChildProcess | undefined
  const launch = async () => {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" })
    spawned.add(child)
    await waitPing(port)
  }
  await launch()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill9() {
      const running = child
      if (running === undefined) return
      const exited = new Promise((r) => running.once("exit", r))
      running.kill("SIGKILL")
      await exited
    },
    restart: launch
  }
}

export interface Node {
  readonly id: string
  readonly rtmpPort: number
  readonly httpPort: number
  readonly child: ChildProcess
  readonly output: () => string
  api<A>(pathname: string): Promise<A>
  kill9(): Promise<void>
}

export interface ConnectionJson {
  readonly id: string
  readonly role: string
  readonly stream: string | null
  readonly remote: string
}

/** Starts a node of the cluster at `redisUrl` (short TTLs for tests) and waits until it listens and joined. */
export const startNode = async (id: string, redisUrl: string | undefined, extra: ReadonlyArray<string> = [], options: { readonly hls?: boolean } = {}): Promise<Node> => {
  const [rtmpPort, httpPort] = [await freePort(), await freePort()]
  const cluster = redisUrl === undefined ? [] : ["--cluster-redis", redisUrl, "--node-id", id, "--cluster-ttl", "2", "--cluster-close-after", "2"]
  const child = spawn(
    "node",
    [path.join(root, "dist/server.mjs"), "--host", "127.0.0.1", "--port", String(rtmpPort), "--http-port", String(httpPort), ...(options.hls === true ? [] : ["--no-hls"]), ...cluster, ...extra],
    { cwd: os.tmpdir(), stdio: ["ignore", "pipe", "pipe"] }
  )
  spawned.add(child)
  let output = ""
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()))
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()))
  await waitUntil(`node ${id} listening`, () => output.includes("HTTP on http://") || child.exitCode !== null, 20_000, 50)
  if (child.exitCode !== null) throw new Error(`node ${id} exited: ${output}`)
  if (redisUrl !== undefined) await waitUntil(`node ${id} in the cluster`, () => output.includes("Cluster directory ready"), 10_000, 50)
  return {
    id,
    rtmpPort,
    httpPort,
    child,
    output: () => output,
    async api<A>(pathname: string): Promise<A> {
      return (await (await fetch(`http://127.0.0.1:${httpPort}${pathname}`)).json()) as A
    },
    async kill9() {
      const exited = new Promise((r) => child.once("exit", r))
      child.kill("SIGKILL")
      await exited
    }
  }
}

export const connectionsOf = async (node: Node): Promise<Array<ConnectionJson>> =>
  (await node.api<{ connections: Array<ConnectionJson> }>("/api/v1/connections")).connections

/** Player connections of `stream` on `node` (an edge's pull is one). */
export const playersOf = async (node: Node, stream: string): Promise<Array<ConnectionJson>> =>
  (await connectionsOf(node)).filter((c) => c.role === "player" && c.stream === stream)

export interface HaProxy {
  readonly port: number
}

/** HAProxy in TCP mode, round robin over `backends` (the example deployment of the README). */
export const startHaProxy = async (backends: ReadonlyArray<number>): Promise<HaProxy> => {
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-"))
  const conf = path.join(dir, "haproxy.cfg")
  fs.writeFileSync(
    conf,
    `global
  maxconn 1000
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend rtmp
  bind 127.0.0.1:${port}
  default_backend nodes
backend nodes
  balance roundrobin
${backends.map((p, i) => `  server n${i} 127.0.0.1:${p} check inter 1s`).join("\n")}
`
  )
  const child = spawn("haproxy", ["-f", conf, "-db"], { stdio: "ignore" })
  spawned.add(child)
  await waitUntil("haproxy listening", () =>
    new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => (s.destroy(), resolve(true)))
      s.on("error", () => resolve(false))
    }), 10_000, 100)
  return { port }
}
