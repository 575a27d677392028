/**
 * The server's configuration service: every setting of `settings.ts`, from CLI flags, from the
 * environment (`RTMP_PORT`, `RTMP_GOP_CACHE`, …) through `Config`, or from a partial object by embedders,
 * checked once at start-up into a typed `ConfigError` that names the flag.
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { ViewerLimits } from "../media/viewer.js"
import { envName, flagName, mapSettings, type ServerConfigShape, type Setting, type SettingName, settings } from "./settings.js"

export type { ServerConfigShape } from "./settings.js"

/** Every setting's default (the table in `settings.ts`). */
export const defaults: ServerConfigShape = mapSettings((_, setting) => setting.default)

/**
 * A setting out of range, or unreadable from the environment. `message` is one line for the user that
 * names the flag (every setting's flag is its name in kebab case: `chunkSize` is `--chunk-size`).
 */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly setting: string
  readonly message: string
}> {}

/** The slow-viewer policy the settings give every output: RTMP players, HTTP/WS viewers, push relays. */
const limitsOf = new WeakMap<ServerConfigShape, ViewerLimits>()

/**
 * The viewer limits of `config`: one object per configuration, shared by all its viewers (each reads it per
 * frame; one object per viewer was one more cache line per viewer and frame).
 */
export const viewerLimits = (config: ServerConfigShape): ViewerLimits => {
  let limits = limitsOf.get(config)
  if (limits === undefined) {
    limits = {
      softBytes: config.playerQueueSoftBytes,
      hardBytes: config.playerQueueHardBytes,
      maxLagMillis: Duration.toMillis(config.playerMaxLag)
    }
    limitsOf.set(config, limits)
  }
  return limits
}

/**
 * The most bytes the peer of an RTMP connection (a client, or a relay's remote server) may leave unread before
 * the connection is ended, whatever it does: the largest queue a player is allowed (its join burst, at most a
 * GOP cache, plus `--player-queue-hard-bytes`). It bounds what we write in answer to the peer (ping answers,
 * command results): a peer that keeps asking and reads none of the answers would otherwise pile them up in our
 * memory. (A WebSocket's pongs are bounded by `ws` itself.)
 */
export const unreadBytesLimit = (config: ServerConfigShape): number => config.playerQueueHardBytes + config.gopCacheMaxBytes

/** The command-line flag of a setting: `chunkSize` → `--chunk-size`. */
export const flagOf = (setting: SettingName): string => `--${flagName(setting)}`

export class ServerConfig extends Context.Tag("effect-rtmp/ServerConfig")<ServerConfig, ServerConfigShape>() {
  static readonly layer = (overrides: Partial<ServerConfigShape> = {}): Layer.Layer<ServerConfig, ConfigError> =>
    Layer.effect(ServerConfig, validate({ ...defaults, ...overrides }))

  /** Reads `RTMP_*` environment variables over the defaults (and the given overrides). */
  static readonly layerFromEnv = (overrides: Partial<ServerConfigShape> = {}): Layer.Layer<ServerConfig, ConfigError> =>
    Layer.effect(
      ServerConfig,
      fromConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromEnv().pipe(ConfigProvider.nested("rtmp"), ConfigProvider.constantCase)),
        Effect.mapError((error) => new ConfigError({ setting: "environment", message: `invalid RTMP_* environment variable: ${String(error)}` })),
        Effect.flatMap((env) => validate({ ...env, ...overrides }))
      )
    )
}

/** What is wrong with one setting's value, said after its flag, or undefined. */
const checkSetting = (setting: Setting, value: unknown): string | undefined => {
  switch (setting.kind) {
    case "integer": {
      const n = value as number
      return !Number.isInteger(n) || n < setting.min || n > setting.max ? `must be between ${setting.min} and ${setting.max} (got ${n})` : undefined
    }
    case "seconds": {
      const d = value as Duration.Duration
      const millis = Duration.toMillis(d)
      if (Number.isNaN(millis) || millis < 0 || (setting.positive && millis === 0)) {
        return `must be ${setting.positive ? "more than 0" : "0 or more"} (got ${Duration.format(d)})`
      }
      return setting.max !== undefined && millis > Duration.toMillis(setting.max)
        ? `must be at most ${Duration.toSeconds(setting.max)} s (got ${Duration.format(d)})`
        : undefined
    }
    case "choice":
      return setting.values.includes(value as string) ? undefined : `must be one of ${setting.values.join(", ")} (got ${String(value)})`
    default:
      return undefined
  }
}

const problem = (config: ServerConfigShape): ConfigError | undefined => {
  for (const name of Object.keys(settings) as Array<SettingName>) {
    const message = checkSetting(settings[name], config[name])
    if (message !== undefined) return new ConfigError({ setting: name, message: `${flagOf(name)} ${message}` })
  }
  if (config.host.trim() === "") return new ConfigError({ setting: "host", message: "--host must not be empty" })
  if (Option.isSome(config.tlsCert) !== Option.isSome(config.tlsKey)) {
    return new ConfigError({ setting: "tlsKey", message: "--tls-cert and --tls-key go together: give both PEM files or neither" })
  }
  if (config.playerQueueSoftBytes > config.playerQueueHardBytes) {
    return new ConfigError({
      setting: "playerQueueSoftBytes",
      message: `--player-queue-soft-bytes (${config.playerQueueSoftBytes}) must not exceed --player-queue-hard-bytes (${config.playerQueueHardBytes})`
    })
  }
  return undefined
}

/** Checks ranges once at start-up, so a bad value fails loudly, naming its flag, instead of misbehaving later. */
export const validate = (config: ServerConfigShape): Effect.Effect<ServerConfigShape, ConfigError> => {
  const error = problem(config)
  return error === undefined ? Effect.succeed(config) : Effect.fail(error)
}

/** A setting from the environment (`RTMP_` + its name in constant case), its default when absent. */
const fromEnv = (name: SettingName, setting: Setting): Config.Config<unknown> => {
  const key = envName(name)
  switch (setting.kind) {
    case "integer":
      return Config.integer(key).pipe(Config.withDefault(setting.default))
    case "seconds":
      return Config.duration(key).pipe(Config.withDefault(setting.default))
    case "onOff":
      return Config.boolean(key).pipe(Config.withDefault(setting.default))
    case "text":
      return Config.string(key).pipe(Config.withDefault(setting.default))
    case "choice":
      return Config.literal(...setting.values)(key).pipe(Config.withDefault(setting.default))
    case "optionalText":
    case "optionalDirectory":
      return Config.option(Config.string(key))
    case "optionalSecret":
      return Config.option(Config.redacted(key))
  }
}

const fromConfig: Config.Config<ServerConfigShape> = Config.all(mapSettings<{ readonly [K in SettingName]: Config.Config<unknown> }>(fromEnv)) as Config.Config<ServerConfigShape>
