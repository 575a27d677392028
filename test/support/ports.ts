/**
 * Ports for servers a test starts in another process (nginx, redis, effect-rtmp's CLI), which must be named
 * before that process binds them. A port from `listen(0)` comes from the kernel's ephemeral range: the next
 * `listen(0)` may hand out the same one again once it is closed (two nodes of a cluster test got one port for
 * RTMP and HTTP), and any outgoing connection may take it meanwhile. These come from below the ephemeral
 * range (32768–60999 on Linux), a band per test worker, never twice in one process, and each is checked free.
 */
import * as net from "node:net"

const BAND = 1000
const FIRST = 20_000
const worker = Number(process.env["VITEST_POOL_ID"] ?? "0") % 12
let next = FIRST + worker * BAND + (process.pid % BAND)

const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

export const freePort = async (): Promise<number> => {
  const band = FIRST + worker * BAND
  for (let tries = 0; tries < BAND; tries++) {
    const port = band + ((next - band) % BAND)
    next = port + 1
    if (await bindable(port)) return port
  }
  throw new Error(`no free port in ${band}–${band + BAND - 1}`)
}
