/**
 * Authorization flags: one mode at a time — publish keys, signed tokens, or an HTTP callback; none means
 * open (with a start-up warning). Secrets can come from the environment instead of the command line,
 * where `ps` would show them.
 */
import { HelpDoc, Options } from "@effect/cli"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { ConfigError } from "../core/config.js"
import { type Authorizer, httpCallback, keys, open, tokens } from "../core/auth.js"

const invalid = (e: unknown) => HelpDoc.p(e instanceof Error ? e.message : String(e))

/** `KEY=NAME`: a publisher using stream key KEY goes live as NAME. */
export const parseKeyMapping = (input: string): readonly [string, string] => {
  const cut = input.lastIndexOf("=")
  if (cut <= 0 || cut === input.length - 1) throw new Error(`--publish-key expects KEY=NAME, got a value without '='`)
  return [input.slice(0, cut), input.slice(cut + 1)]
}

export const authOptions = {
  publishKeys: Options.text("publish-key").pipe(
    Options.repeated,
    Options.withDefault<Array<string>>([]), // shows the flag as optional in the usage line
    Options.mapTryCatch((pairs) => pairs.map(parseKeyMapping), invalid),
    Options.withDescription("Only publishers with this key may publish, and their stream goes live as NAME (KEY=NAME); repeatable")
  ),
  tokenSecret: Options.redacted("token-secret").pipe(
    Options.withFallbackConfig(Config.redacted("RTMP_TOKEN_SECRET")),
    Options.optional,
    Options.withDescription("Require ?token=…&expires=… signed with this secret to publish (env RTMP_TOKEN_SECRET)")
  ),
  protectPlay: Options.boolean("protect-play").pipe(Options.withDescription("With --token-secret: players need a token too")),
  authCallback: Options.text("auth-callback").pipe(
    Options.optional,
    Options.withDescription("Ask this URL before every publish and play (form POST like nginx-rtmp's on_publish; 2xx allows)")
  ),
  authCallbackTimeout: Options.float("auth-callback-timeout").pipe(
    Options.withDefault(5),
    Options.withDescription("Seconds the auth callback has to answer; no answer denies")
  )
} as const

export interface AuthFlags {
  readonly publishKeys: ReadonlyArray<readonly [string, string]>
  readonly tokenSecret: Option.Option<Redacted.Redacted<string>>
  readonly protectPlay: boolean
  readonly authCallback: Option.Option<string>
  readonly authCallbackTimeout: number
}

export const toAuthorizer = (flags: AuthFlags): Effect.Effect<Authorizer, ConfigError> => {
  const modes = [flags.publishKeys.length > 0, Option.isSome(flags.tokenSecret), Option.isSome(flags.authCallback)].filter(Boolean)
  if (modes.length > 1) {
    return Effect.fail(new ConfigError({ setting: "authorization", message: "choose one of --publish-key, --token-secret and --auth-callback" }))
  }
  if (flags.publishKeys.length > 0) return Effect.succeed(keys(new Map(flags.publishKeys)))
  if (Option.isSome(flags.tokenSecret)) return Effect.succeed(tokens(flags.tokenSecret.value, flags.protectPlay))
  if (Option.isSome(flags.authCallback)) {
    const url = flags.authCallback.value
    if (!URL.canParse(url)) return Effect.fail(new ConfigError({ setting: "authCallback", message: `--auth-callback is not a URL: ${url}` }))
    return Effect.succeed(httpCallback(url, Duration.seconds(flags.authCallbackTimeout)))
  }
  return Effect.succeed(open)
}
