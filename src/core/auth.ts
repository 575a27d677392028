/**
 * Who may publish and play. `Authorization` is a service an embedding app can replace with its own
 * Effect; the built-in choices are:
 * - `open`: anyone (the default, as in the seed; a warning says so at start-up),
 * - `keys`: publishers must present a key, which maps to a public stream name (viewers never see keys),
 * - `tokens`: `?token=…&expires=…` signed with a shared secret (HMAC-SHA256, constant-time compare),
 * - `httpCallback`: like nginx-rtmp's on_publish/on_play — a 2xx answer allows, anything else or a
 *   timeout denies.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createHmac, timingSafeEqual } from "node:crypto"

export class AuthDenied extends Data.TaggedError("AuthDenied")<{ readonly reason: string }> {}

export interface AccessRequest {
  readonly app: string
  /** The name as the client sent it (for a publisher with keys, that is the key). */
  readonly name: string
  /** The query string after `?`, without it. */
  readonly query: string
  readonly remoteAddress: string
  readonly connectionId: string
  /** How the client came: `rtmp`, `http-flv`, `ws-flv`, … (told to HTTP callbacks as `protocol`). */
  readonly protocol: string
}

export interface PublishGrant {
  readonly name: string
  /** An opaque identity of the proof (never logged); absent when nothing was proven. */
  readonly credential?: string | undefined
}

export interface Authorizer {
  /**
   * Allows a publish and says under which public name the stream goes live, and which credential the
   * publisher proved (a reconnecting encoder proving the same one takes its stream over at once).
   */
  readonly publish: (request: AccessRequest) => Effect.Effect<PublishGrant, AuthDenied>
  readonly play: (request: AccessRequest) => Effect.Effect<void, AuthDenied>
  /** One line for the start-up log. */
  readonly description: string
}

export class Authorization extends Context.Tag("effect-rtmp/Authorization")<Authorization, Authorizer>() {}

export const open: Authorizer = {
  publish: (request) => Effect.succeed({ name: request.name }),
  play: () => Effect.void,
  description: "open: anyone may publish and play (set --publish-key, --token-secret or --auth-callback to restrict)"
}

const sameSecret = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  // Compare equal-length digests so neither the content nor the length leaks through timing.
  return timingSafeEqual(createHmac("sha256", "compare").update(x).digest(), createHmac("sha256", "compare").update(y).digest())
}

/** Publishers present a key (the stream name they publish to); it maps to the public name players use. */
export const keys = (keyToName: ReadonlyMap<string, string>): Authorizer => ({
  publish: (request) => {
    for (const [key, name] of keyToName) {
      if (sameSecret(key, request.name)) return Effect.succeed({ name, credential: `key:${name}:${key}` })
    }
    return Effect.fail(new AuthDenied({ reason: "unknown publish key" }))
  },
  play: (request) =>
    [...keyToName.keys()].some((key) => sameSecret(key, request.name))
      ? Effect.fail(new AuthDenied({ reason: "players must use the public stream name, not a key" }))
      : Effect.void,
  description: `publish keys: ${keyToName.size} key(s) mapped to public stream names`
})

/**
 * The token for (app, name) valid until `expires` (Unix seconds): hex HMAC-SHA256 of
 * `LENGTH:app/name:expires`, LENGTH being the app's length in UTF-16 code units (`4:live/cam:1767225600`).
 * The length keeps a token for app `live` + name `sub/x` from also opening app `live/sub` + name `x`.
 */
export const signToken = (secret: Redacted.Redacted<string>, app: string, name: string, expires: number): string =>
  createHmac("sha256", Redacted.value(secret)).update(`${app.length}:${app}/${name}:${expires}`).digest("hex")

const checkToken = (secret: Redacted.Redacted<string>, request: AccessRequest, now: number): Effect.Effect<void, AuthDenied> => {
  const params = new URLSearchParams(request.query)
  const token = params.get("token")
  const expires = Number(params.get("expires"))
  if (token === null || !Number.isInteger(expires)) return Effect.fail(new AuthDenied({ reason: "token and expires required" }))
  if (expires * 1000 < now) return Effect.fail(new AuthDenied({ reason: "token expired" }))
  return sameSecret(token, signToken(secret, request.app, request.name, expires))
    ? Effect.void
    : Effect.fail(new AuthDenied({ reason: "bad token" }))
}

/** Signed, expiring tokens for publishing and (when `protectPlay`) playing. */
export const tokens = (secret: Redacted.Redacted<string>, protectPlay: boolean): Authorizer => ({
  publish: (request) =>
    Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => checkToken(secret, request, now).pipe(Effect.as({ name: request.name, credential: `token:${request.app.length}:${request.app}/${request.name}` }))
    ),
  play: (request) => (protectPlay ? Effect.flatMap(Clock.currentTimeMillis, (now) => checkToken(secret, request, now)) : Effect.void),
  description: `signed tokens (HMAC-SHA256) for publishing${protectPlay ? " and playing" : ""}`
})

/**
 * Asks an HTTP endpoint, as nginx-rtmp's on_publish/on_play do: a form POST with call, app, name, addr,
 * clientid, protocol and the client's query arguments. 2xx allows; any other status, an error or a timeout denies.
 */
export const httpCallback = (url: string, timeout: Duration.Duration): Authorizer => {
  const ask = (call: "publish" | "play", request: AccessRequest) =>
    Effect.tryPromise({
      try: async (signal) => {
        const body = new URLSearchParams(request.query)
        body.set("call", call)
        body.set("app", request.app)
        body.set("name", request.name)
        body.set("addr", request.remoteAddress)
        body.set("clientid", request.connectionId)
        body.set("protocol", request.protocol)
        const response = await fetch(url, { method: "POST", body, signal, redirect: "manual" })
        return response.status
      },
      catch: (cause) => new AuthDenied({ reason: `callback failed: ${cause instanceof Error ? cause.message : String(cause)}` })
    }).pipe(
      Effect.timeoutFail({ duration: timeout, onTimeout: () => new AuthDenied({ reason: `callback did not answer within ${Duration.format(timeout)}` }) }),
      Effect.flatMap((status) => (status >= 200 && status < 300 ? Effect.void : Effect.fail(new AuthDenied({ reason: `callback answered ${status}` }))))
    )
  return {
    publish: (request) => ask("publish", request).pipe(Effect.as({ name: request.name })),
    play: (request) => ask("play", request),
    description: `HTTP callback ${new URL(url).origin}${new URL(url).pathname}`
  }
}

export const layer = (authorizer: Authorizer): Layer.Layer<Authorization> => Layer.succeed(Authorization, authorizer)
