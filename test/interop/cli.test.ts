/** The built command line, as a user runs it: start-up line, flags, --log-io, clean exit on SIGTERM. */
import { describe, expect, it } from "@effect/vitest"
import { spawn, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { freePort } from "../support/ports.js"
import { ffmpegPublish } from "../support/processes.js"

const root = path.resolve(import.meta.dirname, "../..")

/** Starts the built CLI as the installed `effect-rtmp` command (the bundle itself) and resolves once it prints its listening line. */
const spawnServer = async (args: ReadonlyArray<string>, cwd = root) => {
  // Several servers run at once in these tests: each gets a free HTTP port unless the test picks one.
  const httpPort = args.includes("--http-port") ? [] : ["--http-port", "0"]
  const child = spawn(path.join(root, "dist/server.mjs"), [...args, ...httpPort], { cwd, stdio: ["ignore", "pipe", "pipe"] })
  const state = { output: "" }
  child.stdout.on("data", (d: Buffer) => (state.output += d.toString()))
  child.stderr.on("data", (d: Buffer) => (state.output += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
  const deadline = Date.now() + 20_000
  while (!state.output.includes("Listening for connections on") && Date.now() < deadline && child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 50))
  }
  return { child, state, exited }
}

describe("effect-rtmp command line", () => {
  it("builds", () => {
    execFileSync("npm", ["run", "build"], { cwd: root, stdio: "pipe" })
    expect(fs.existsSync(path.join(root, "dist/server.mjs"))).toBe(true)
  }, 120_000)

  it("--help describes every flag", () => {
    const help = execFileSync("node", ["dist/server.mjs", "--help"], { cwd: root, encoding: "utf8" })
    for (const flag of ["--host", "--port", "--log-io", "--chunk-size", "--gop-cache", "--no-gop-cache", "--log-level", "--player-queue-soft-bytes", "--handshake-timeout"]) {
      expect(help).toContain(flag)
    }
  })

  it("serves, logs raw I/O with a bare --log-io, and exits 0 on SIGTERM with the log files flushed", async () => {
    const port = await freePort()
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "rtmp-cli-"))
    const { child: server, state, exited } = await spawnServer(["serve", "--host", "127.0.0.1", "--port", String(port), "--log-io"], cwd)
    expect(state.output).toContain(`Listening for connections on 127.0.0.1:${port}`)
    // The command's first line runs node with V8's young generation capped (dead media payloads are collected sooner).
    expect(fs.readFileSync(`/proc/${server.pid}/cmdline`, "utf8").split("\0")).toContain("--max-semi-space-size=2")
    const deadline = Date.now() + 20_000
    const publisher = ffmpegPublish(`rtmp://127.0.0.1:${port}/live/cli`, 30)
    const logs = path.join(cwd, "logs")
    while (Date.now() < deadline && !(fs.existsSync(logs) && fs.readdirSync(logs).length === 2)) {
      await new Promise((r) => setTimeout(r, 100))
    }
    await new Promise((r) => setTimeout(r, 1500))
    server.kill("SIGTERM")
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("hung"), 10_000))])
    publisher.kill()
    expect(code).toBe(0)
    const files = fs.readdirSync(logs).sort()
    expect(files).toHaveLength(2)
    const input = fs.readFileSync(path.join(logs, files[0] as string))
    expect(files[0]).toMatch(/input\.rtmp$/)
    expect(input[0]).toBe(3)
    expect(input.length).toBeGreaterThan(1537 * 2 + 1000) // handshake, connect, media
  }, 60_000)
})

/** Runs the built CLI to its exit; what it printed on each stream and its exit code. */
const runCli = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn("node", [path.join(root, "dist/server.mjs"), ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

describe("start-up failures: one clear line, non-zero exit", () => {
  it("a busy port names the port and the flag", async () => {
    const blocker = net.createServer()
    const port = await new Promise<number>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve((blocker.address() as net.AddressInfo).port)))
    try {
      const result = await runCli(["serve", "--host", "127.0.0.1", "--port", String(port)])
      expect(result.code).not.toBe(0)
      expect(result.stderr.trim().split("\n")).toEqual([`effect-rtmp: port ${port} is already in use (--port): another server is listening on 127.0.0.1:${port}`])
    } finally {
      blocker.close()
    }
  }, 30_000)

  it.each([
    [["--chunk-size", "0"], "effect-rtmp: --chunk-size must be between 128 and 16777215 (got 0)"],
    [["--port", "70000"], "effect-rtmp: --port must be between 0 and 65535 (got 70000)"],
    [["--player-queue-hard-bytes", "1000"], "effect-rtmp: --player-queue-soft-bytes (2097152) must not exceed --player-queue-hard-bytes (1000)"],
    [["--publish-key", "k=live", "--token-secret", "s"], "effect-rtmp: choose one of --publish-key, --token-secret and --auth-callback"],
    [["token", "-a", "live", "-s", "x"], "effect-rtmp: --token-secret (or RTMP_TOKEN_SECRET) is required"],
    [["--log-io", "/etc/passwd/x"], "effect-rtmp: --log-io: cannot write to /etc/passwd/x (not a directory)"],
    // Node's own recursive mkdir never returns under /proc; ours does.
    [["--record", "/proc/no/such"], "effect-rtmp: --record: cannot write to /proc/no/such (no such file or directory)"]
  ])("%s is refused with one line", async (args, line) => {
    const result = await runCli(args)
    expect(result.code).not.toBe(0)
    expect(result.stderr.trim().split("\n")).toEqual([line])
    expect(result.stdout).not.toContain("Listening")
  }, 30_000)

  it("a malformed flag value is explained by the flag parser", async () => {
    const result = await runCli(["--port", "abc"])
    expect(result.code).not.toBe(0)
    expect(result.stdout + result.stderr).toContain("'abc' is not a integer")
  }, 30_000)

  it("--log-format json prints one JSON object per log line", async () => {
    const port = await freePort()
    const { child, state, exited } = await spawnServer(["--host", "127.0.0.1", "--port", String(port), "--http-port", "0", "--log-format", "json"])
    child.kill("SIGTERM")
    await exited
    const lines = state.output.trim().split("\n")
    expect(lines.length).toBeGreaterThan(1)
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty("logLevel")
    expect(state.output).toContain(`Listening for connections on 127.0.0.1:${port}`)
  }, 30_000)

  it("the usage line shows repeatable flags as optional", async () => {
    const help = (await runCli(["--help"])).stdout
    for (const flag of ["--pull", "--push", "--publish-key"]) expect(help).toContain(`[${flag} text...]`)
  }, 30_000)
})

describe("seed-compatible relay commands", () => {
  it("pull -a APP -h HOST:PORT -s STREAM -t TARGET serves the remote stream locally", async () => {
    const { connectClient, isMedia, isStatus, openStream } = await import("../support/client.js")
    const originPort = await freePort()
    const localPort = await freePort()
    const origin = await spawnServer(["--host", "127.0.0.1", "--port", String(originPort)])
    const puller = await spawnServer([
      "pull", "-a", "live", "-h", `localhost:${originPort}`, "-s", "cam", "-t", "copy",
      "--host", "127.0.0.1", "--port", String(localPort), "--relay-retry-base", "0.2", "--relay-retry-max", "1"
    ])
    try {
      const publisher = ffmpegPublish(`rtmp://127.0.0.1:${originPort}/live/cam`, 6)
      const player = await connectClient(localPort)
      const id = await openStream(player)
      player.session.play(id, "copy")
      await player.waitFor(isStatus("NetStream.Play.Start"))
      await player.waitFor((e) => isMedia(e) && e.message.typeId === 9 && e.message.payload[0] === 0x17, 20_000)
      player.close()
      publisher.kill()
      expect(puller.state.output).toContain("Relay: pull rtmp://localhost:")
      expect(puller.state.output).not.toContain("/live/cam") // the remote stream name is redacted in logs
    } finally {
      puller.child.kill("SIGTERM")
      origin.child.kill("SIGTERM")
    }
  }, 60_000)
})

describe("graceful shutdown under load", () => {
  it("SIGTERM with 100 players and a push relay: everyone is closed, log files are complete, exit 0 in bounded time", async () => {
    const { connectClient, isMedia, isStatus, openStream } = await import("../support/client.js")
    const portA = await freePort()
    const portB = await freePort()
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "rtmp-shutdown-"))
    const b = await spawnServer(["--host", "127.0.0.1", "--port", String(portB)])
    const a = await spawnServer(
      ["--host", "127.0.0.1", "--port", String(portA), "--log-io", "io", "--push", `live/src=rtmp://127.0.0.1:${portB}/live/copy`],
      cwd
    )
    const publisher = ffmpegPublish(`rtmp://127.0.0.1:${portA}/live/src`, 60)
    try {
      const players = []
      for (let i = 0; i < 100; i += 25) {
        players.push(
          ...(await Promise.all(
            Array.from({ length: 25 }, async () => {
              const p = await connectClient(portA)
              const id = await openStream(p)
              p.session.play(id, "src")
              await p.waitFor(isStatus("NetStream.Play.Start"))
              return p
            })
          ))
        )
      }
      await Promise.all(players.map((p) => p.waitFor((e) => isMedia(e) && e.message.typeId === 9, 20_000)))
      const remote = await connectClient(portB) // the relay delivers to the other server
      const rid = await openStream(remote)
      remote.session.play(rid, "copy")
      await remote.waitFor((e) => isMedia(e) && e.message.typeId === 9, 20_000)
      remote.close()

      const signalled = Date.now()
      a.child.kill("SIGTERM")
      const code = await Promise.race([a.exited, new Promise((r) => setTimeout(() => r("hung"), 15_000))])
      expect(code).toBe(0)
      expect(Date.now() - signalled).toBeLessThan(10_000)
      await Promise.all(players.map((p) => p.waitClosed(5000)))
      const files = fs.readdirSync(path.join(cwd, "io"))
      const inputs = files.filter((f) => f.endsWith(".input.rtmp"))
      expect(inputs.length).toBe(101) // 100 players and the encoder
      expect(files.length).toBe(2 * inputs.length)
      for (const f of inputs) {
        const bytes = fs.readFileSync(path.join(cwd, "io", f))
        expect(bytes[0]).toBe(3)
        expect(bytes.length).toBeGreaterThan(2 * 1536)
      }
      const sentByPlayers = players.reduce((sum, p) => sum + p.bytesSent, 0)
      const inputTotal = inputs.reduce((sum, f) => sum + fs.statSync(path.join(cwd, "io", f)).size, 0)
      expect(inputTotal).toBeGreaterThanOrEqual(sentByPlayers) // plus what the encoder sent
      const receivedByPlayers = players.reduce((sum, p) => sum + p.bytesReceived, 0)
      const outputTotal = files.filter((f) => f.endsWith(".output.rtmp")).reduce((sum, f) => sum + fs.statSync(path.join(cwd, "io", f)).size, 0)
      expect(outputTotal).toBeGreaterThanOrEqual(receivedByPlayers)
    } finally {
      publisher.kill()
      a.child.kill("SIGKILL")
      b.child.kill("SIGTERM")
    }
  }, 90_000)
})
