/** Real third-party peers (ffmpeg, rtmpdump) as child processes, always bounded in time and killed. */
import { type ChildProcess, spawn } from "node:child_process"

export interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface Running {
  readonly process: ChildProcess
  readonly done: Promise<Finished>
  kill(): void
}

export const start = (command: string, args: ReadonlyArray<string>, timeoutMs: number, options: { readonly stdin?: boolean } = {}): Running => {
  const child = spawn(command, args, { stdio: [options.stdin === true ? "pipe" : "ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString("latin1")))
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString("latin1")))
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
  const done = new Promise<Finished>((resolve) => {
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.on("error", (e) => {
      clearTimeout(timer)
      resolve({ code: -1, stdout, stderr: stderr + String(e) })
    })
  })
  return { process: child, done, kill: () => child.kill("SIGKILL") }
}

export const run = (command: string, args: ReadonlyArray<string>, timeoutMs: number): Promise<Finished> =>
  start(command, args, timeoutMs).done

export const FPS = 25

/** ffmpeg publishing a generated H.264 + AAC stream in real time, keyframe every second. */
export const ffmpegPublish = (url: string, seconds: number, extra: ReadonlyArray<string> = []): Running =>
  start(
    "ffmpeg",
    [
      "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
      "-f", "lavfi", "-i", `testsrc2=size=320x240:rate=${FPS}`,
      "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
      "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", String(FPS), "-pix_fmt", "yuv420p",
      "-c:a", "aac", "-b:a", "64k", "-t", String(seconds), ...extra,
      "-f", "flv", url
    ],
    (seconds + 30) * 1000
  )

/**
 * ffmpeg playing a URL, decoding everything; progress on stdout, diagnostics on stderr. `input` options go
 * before `-i` (e.g. `-tls_verify 1`), `output` ones after it (e.g. `-t 3`, `-map 0`).
 */
export const ffmpegPlay = (url: string, timeoutMs: number, options: { readonly input?: ReadonlyArray<string>; readonly output?: ReadonlyArray<string> } = {}): Running =>
  start("ffmpeg", ["-hide_banner", "-nostdin", "-v", "info", ...(options.input ?? []), "-i", url, ...(options.output ?? []), "-progress", "pipe:1", "-f", "null", "-"], timeoutMs)

export const decodedFrames = (progress: string): number => {
  const frames = [...progress.matchAll(/^frame=(\d+)$/gm)].map((m) => Number(m[1]))
  return frames.length === 0 ? 0 : Math.max(...frames)
}

/** Lines in which a decoder complained (ffmpeg prints them at error level with the codec name). */
export const decoderErrors = (stderr: string): Array<string> =>
  stderr.split("\n").filter((l) => /\[(h264|aac)[^\]]*\].*(error|invalid|corrupt|missing)/i.test(l))

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Stops a process the way a user would (SIGINT: ffmpeg finishes its output and reports), then waits. */
export const interrupt = async (running: Running, graceMs = 5000): Promise<Finished> => {
  running.process.kill("SIGINT")
  const timer = setTimeout(() => running.kill(), graceMs)
  const finished = await running.done
  clearTimeout(timer)
  return finished
}
