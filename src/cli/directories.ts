/**
 * The directories named on the command line (`--log-io`, `--record`) are created and checked for writing
 * once at start-up, so a bad path is one line naming the flag and exit 1 — not a stack trace, and not a
 * failure that waits for the first connection or the first recording.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { ConfigError, flagOf, type ServerConfigShape } from "../core/config.js"
import { type SettingName, settings } from "../core/settings.js"
import { makeDirectories } from "../transport/make-directories.js"

const directorySettings = (Object.keys(settings) as Array<SettingName>).filter((name) => settings[name].kind === "optionalDirectory")

/** `ENOTDIR: not a directory, mkdir '/etc/passwd/x'` → `not a directory`. */
const reason = (cause: unknown): string => (cause instanceof Error ? cause.message.replace(/^E[A-Z]+: /, "").split(",")[0] ?? cause.message : String(cause))

const prepare = (name: SettingName, directory: string) =>
  Effect.tryPromise({
    try: async () => {
      await makeDirectories(directory)
      if (!(await fs.promises.stat(directory)).isDirectory()) throw new Error("not a directory")
      await fs.promises.access(directory, fs.constants.W_OK)
    },
    catch: (cause) => new ConfigError({ setting: name, message: `${flagOf(name)}: cannot write to ${directory} (${reason(cause)})` })
  })

/** Creates every configured directory that does not exist yet and fails with a `ConfigError` for one that cannot be written. */
export const prepareDirectories = (config: ServerConfigShape): Effect.Effect<void, ConfigError> =>
  Effect.forEach(
    directorySettings,
    (name) => {
      const value: unknown = config[name]
      return Option.isOption(value) && Option.isSome(value) && typeof value.value === "string" ? prepare(name, value.value) : Effect.void
    },
    { discard: true }
  )
