/**
 * A real nginx with the RTMP module on a loopback port, with a minimal config written by the test:
 * one `live` application, no GOP cache (stock nginx-rtmp behaviour), players told when a publisher leaves.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

const MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

export const nginxAvailable = (): boolean => fs.existsSync("/usr/sbin/nginx") && fs.existsSync(MODULE)


const waitForPort = async (port: number, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        socket.destroy()
        resolve(true)
      })
      socket.on("error", () => resolve(false))
    })
    if (open) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nginx did not listen on ${port}`)
}

export interface Nginx {
  readonly port: number
  readonly dir: string
  start(): Promise<void>
  stop(): Promise<void>
}

export const makeNginx = (port: number): Nginx => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rtmp-nginx-"))
  const conf = path.join(dir, "nginx.conf")
  fs.writeFileSync(
    conf,
    `load_module ${MODULE};
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
rtmp {
  server {
    listen 127.0.0.1:${port};
    chunk_size 4096;
    # play_restart: players get NetStream.Play.Stop when the publisher leaves, so ffmpeg ends cleanly.
    application live { live on; play_restart on; }
  }
}
`
  )
  let child: ChildProcess | undefined
  return {
    port,
    dir,
    async start() {
      child = spawn("/usr/sbin/nginx", ["-p", dir, "-c", conf, "-e", path.join(dir, "error.log")], { stdio: "ignore" })
      await waitForPort(port, 10_000)
    },
    async stop() {
      const running = child
      child = undefined
      if (running === undefined || running.exitCode !== null) return
      const exited = new Promise((r) => running.once("exit", r))
      running.kill("SIGKILL")
      await exited
    }
  }
}
