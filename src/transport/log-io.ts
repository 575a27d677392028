/**
 * `--log-io`: the raw bytes of a connection, one file per direction, handshake included, flushed when the
 * connection's scope closes. File names are built from the time and our own connection id only, never
 * from anything a client sent.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeDirectories } from "./make-directories.js"

export interface IoLog {
  readonly input: (bytes: Uint8Array) => void
  readonly output: (bytes: Uint8Array) => void
}

export class LogIoError extends Data.TaggedError("LogIoError")<{ readonly message: string; readonly cause: unknown }> {}

const noLog: IoLog = { input: () => {}, output: () => {} }

const timestamp = (): string => new Date().toISOString().replace(/[:.]/g, "-")

const openStream = (file: string) =>
  Effect.acquireRelease(
    Effect.async<fs.WriteStream, LogIoError>((resume) => {
      const stream = fs.createWriteStream(file, { flags: "w" })
      stream.once("open", () => resume(Effect.succeed(stream)))
      stream.once("error", (cause) => resume(Effect.fail(new LogIoError({ message: `cannot write ${file}`, cause }))))
    }),
    (stream) =>
      Effect.async<void>((resume) => {
        stream.end(() => resume(Effect.void))
      }).pipe(Effect.timeout("5 seconds"), Effect.ignore)
  )

/** Opens the two log files of a connection (or does nothing without a directory). */
export const openIoLog = (dir: Option.Option<string>, connectionId: string) =>
  Option.match(dir, {
    onNone: () => Effect.succeed(noLog),
    onSome: (directory) =>
      Effect.gen(function* () {
        yield* Effect.tryPromise({
          try: () => makeDirectories(directory),
          catch: (cause) => new LogIoError({ message: `cannot create ${directory}`, cause })
        })
        const base = path.join(directory, `${timestamp()}-${connectionId}`)
        const input = yield* openStream(`${base}.input.rtmp`)
        const output = yield* openStream(`${base}.output.rtmp`)
        return {
          input: (bytes: Uint8Array) => void input.write(bytes),
          output: (bytes: Uint8Array) => void output.write(bytes)
        } satisfies IoLog
      })
  })
