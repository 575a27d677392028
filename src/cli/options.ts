/**
 * The `serve` flags, shared by every command that runs a server: one per setting of `core/settings.ts`,
 * so a flag, its default and its description cannot drift from the configuration.
 */
import { type Command, Options } from "@effect/cli"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import { flagName, mapSettings, type ServerConfigShape, type Setting, type SettingName } from "../core/settings.js"

/** The flag of one setting, from its kind (see `core/settings.ts`): default, description, alias. */
const optionFor = (name: SettingName, setting: Setting): Options.Options<unknown> => {
  const flag = flagName(name)
  const option = ((): Options.Options<unknown> => {
    switch (setting.kind) {
      case "integer":
        return Options.integer(flag).pipe(Options.withDefault(setting.default))
      case "seconds":
        return Options.float(flag).pipe(
          Options.withDefault(Duration.toSeconds(setting.default)),
          Options.map((seconds) => Duration.millis(Math.round(seconds * 1000)))
        )
      case "onOff":
        // An absent boolean flag parses as false whatever its default, so an on-by-default setting is `--no-…`.
        return setting.default
          ? Options.boolean(`no-${flag}`, { negationNames: [flag] }).pipe(Options.map((off) => !off))
          : Options.boolean(flag)
      case "text":
        return Options.text(flag).pipe(Options.withDefault(setting.default))
      case "choice":
        return Options.choice(flag, setting.values).pipe(Options.withDefault(setting.default))
      case "optionalText":
        return Options.text(flag).pipe(Options.optional)
      case "optionalDirectory":
        // Checked (and created) at start-up by prepareDirectories: @effect/cli's own directory check dies
        // with a stack trace on a path through a file, and would refuse a directory that does not exist yet.
        return Options.text(flag).pipe(Options.withPseudoName("directory"), Options.optional)
      case "optionalSecret":
        return Options.redacted(flag).pipe(Options.withFallbackConfig(Config.redacted(setting.envFallback)), Options.optional)
    }
  })()
  const described = option.pipe(Options.withDescription(`${setting.description}${helpSuffix(flag, setting)}`))
  return setting.alias === undefined ? described : described.pipe(Options.withAlias(setting.alias))
}

/** What `--help` adds to a setting's description from the table: its unit, default and range. */
const helpSuffix = (flag: string, setting: Setting): string => {
  switch (setting.kind) {
    case "integer":
      return ` (default ${setting.default}; ${setting.max === Number.MAX_SAFE_INTEGER ? `at least ${setting.min}` : `${setting.min}–${setting.max}`})`
    case "seconds":
      return ` (seconds; default ${Duration.toSeconds(setting.default)}${setting.max === undefined ? "" : `; at most ${Duration.toSeconds(setting.max)}`})`
    case "onOff":
      return setting.default ? ` (on; --no-${flag} turns it off)` : ""
    case "text":
    case "choice":
      return ` (default ${setting.default})`
    default:
      return ""
  }
}

/** One flag per server setting, derived from the settings table; parsing them yields a `ServerConfigShape`. */
export const serveOptions = mapSettings<{ readonly [K in SettingName]: Options.Options<ServerConfigShape[K]> }>(optionFor)

export type ServeOptions = Command.Command.ParseConfig<typeof serveOptions>

/** How the process logs: not a server setting (embedders bring their own logger). */
export const logOptions = {
  logFormat: Options.choice("log-format", ["pretty", "json", "logfmt"]).pipe(
    Options.withDefault("pretty" as const),
    Options.withDescription("Log lines as pretty text, one JSON object, or logfmt (with --log-level for the level)")
  )
} as const

/** The parsed flags are the configuration itself. */
export const toServerConfig = (options: ServeOptions): ServerConfigShape => {
  const config: Record<string, unknown> = {}
  for (const name of Object.keys(serveOptions)) config[name] = (options as Record<string, unknown>)[name]
  return config as ServerConfigShape
}

/** Default directory for a bare `--log-io` / `-l`. */
export const DEFAULT_LOG_IO_DIR = "logs"

/**
 * `--log-io` takes an optional value; @effect/cli options take a value or none, so a bare `--log-io`
 * (as in the seed's `-l`) gets the default directory inserted before parsing.
 */
export const normalizeArgv = (input: ReadonlyArray<string>): Array<string> => {
  const argv = hoistLogLevel(input)
  const out: Array<string> = []
  let relayCommand = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const next = argv[i + 1]
    if (arg === "pull" || arg === "push") relayCommand = true
    // The seed's pull/push take the remote host as `-h`, which @effect/cli keeps for --help.
    if (relayCommand && arg === "-h" && next !== undefined && !next.startsWith("-")) {
      out.push("--remote-host")
      continue
    }
    out.push(arg)
    if ((arg === "--log-io" || arg === "-l") && (next === undefined || next.startsWith("-") || SUBCOMMANDS.has(next))) {
      out.push(DEFAULT_LOG_IO_DIR)
    }
  }
  return out
}

const SUBCOMMANDS = new Set(["serve", "pull", "push", "token"])

/** @effect/cli reads its built-in `--log-level` only before a subcommand; users put it anywhere. */
const hoistLogLevel = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const rest = [...argv.slice(2)]
  const hoisted: Array<string> = []
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string
    if (arg.startsWith("--log-level=")) hoisted.push(...rest.splice(i--, 1))
    else if (arg === "--log-level" && i + 1 < rest.length) hoisted.push(...rest.splice(i--, 2))
  }
  return [...argv.slice(0, 2), ...hoisted, ...rest]
}
