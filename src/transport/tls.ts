/**
 * The server's TLS certificate (`--tls-cert`, `--tls-key`) for RTMPS and HTTPS: checked at start-up (a
 * missing, unreadable, mismatched, not-yet-valid or expired certificate is one clear `TlsError`), then
 * reloaded for new connections when either file changes or the process gets SIGHUP. A reload that fails
 * (a half-written file, a key that does not match yet) keeps the certificate in use and logs why.
 * Listeners subscribe and call `setSecureContext`; connections already open keep their session.
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import type * as tls from "node:tls"
import { ServerConfig } from "../core/config.js"

export class TlsError extends Data.TaggedError("TlsError")<{ readonly message: string }> {}

export interface TlsMaterial {
  readonly key: Buffer
  readonly cert: Buffer
  /** SHA-256 of the leaf certificate, `AA:BB:…` as Node and `openssl x509 -fingerprint -sha256` print it. */
  readonly fingerprint256: string
  readonly subject: string
  readonly validTo: Date
}

const read = (path: string, flag: string): Buffer => {
  try {
    return fs.readFileSync(path)
  } catch (cause) {
    throw new TlsError({ message: `cannot read ${flag} ${path}: ${(cause as Error).message}` })
  }
}

/** Reads and checks a certificate and its key; throws a `TlsError` that names the flag at fault. */
export const loadTlsMaterial = (certPath: string, keyPath: string, nowMillis: number): TlsMaterial => {
  const cert = read(certPath, "--tls-cert")
  const key = read(keyPath, "--tls-key")
  let leaf: crypto.X509Certificate
  try {
    leaf = new crypto.X509Certificate(cert)
  } catch (cause) {
    throw new TlsError({ message: `--tls-cert ${certPath} is not a PEM certificate: ${(cause as Error).message}` })
  }
  let privateKey: crypto.KeyObject
  try {
    privateKey = crypto.createPrivateKey(key)
  } catch (cause) {
    throw new TlsError({ message: `--tls-key ${keyPath} is not a PEM private key: ${(cause as Error).message}` })
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new TlsError({ message: `--tls-key ${keyPath} does not belong to the certificate in --tls-cert ${certPath}` })
  const validFrom = new Date(leaf.validFrom)
  const validTo = new Date(leaf.validTo)
  if (validTo.getTime() <= nowMillis) throw new TlsError({ message: `--tls-cert ${certPath} expired on ${validTo.toISOString()}` })
  if (validFrom.getTime() > nowMillis) throw new TlsError({ message: `--tls-cert ${certPath} is not valid before ${validFrom.toISOString()}` })
  return { key, cert, fingerprint256: leaf.fingerprint256, subject: leaf.subject.replace(/\n/g, ", "), validTo }
}

/** What a TLS server needs from the material. */
export const secureContextOptions = (material: TlsMaterial): tls.SecureContextOptions => ({ key: material.key, cert: material.cert, minVersion: "TLSv1.2" })

export interface TlsCertificatesShape {
  /** The certificate in use, when TLS is configured. */
  readonly current: () => Option.Option<TlsMaterial>
  /** Calls `listener` with every new certificate; returns the unsubscribe function. */
  readonly onChange: (listener: (material: TlsMaterial) => void) => () => void
  /** Re-reads the files now (what SIGHUP does). */
  readonly reload: Effect.Effect<void>
}

/** How often the certificate files are checked for changes (stat polling survives atomic renames). */
const WATCH_INTERVAL_MS = 1000

export class TlsCertificates extends Effect.Service<TlsCertificates>()("effect-rtmp/TlsCertificates", {
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const listeners = new Set<(material: TlsMaterial) => void>()
    if (Option.isNone(config.tlsCert) || Option.isNone(config.tlsKey)) {
      const none: TlsCertificatesShape = { current: () => Option.none(), onChange: () => () => {}, reload: Effect.void }
      return none
    }
    const certPath = config.tlsCert.value
    const keyPath = config.tlsKey.value
    const startedAt = yield* Clock.currentTimeMillis
    const state = { material: yield* Effect.try({ try: () => loadTlsMaterial(certPath, keyPath, startedAt), catch: (e) => e as TlsError }) }
    yield* Effect.logInfo(`TLS certificate ${state.material.subject} (SHA-256 ${state.material.fingerprint256}), valid until ${state.material.validTo.toISOString()}`)

    const reload = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const loaded = yield* Effect.try({ try: () => loadTlsMaterial(certPath, keyPath, now), catch: (e) => e as TlsError }).pipe(Effect.either)
      if (loaded._tag === "Left") return yield* Effect.logWarning(`TLS certificate not reloaded, the previous one stays in use: ${loaded.left.message}`)
      if (loaded.right.fingerprint256 === state.material.fingerprint256 && loaded.right.key.equals(state.material.key)) return
      state.material = loaded.right
      for (const listener of listeners) listener(loaded.right)
      yield* Effect.logInfo(`TLS certificate reloaded: ${loaded.right.subject} (SHA-256 ${loaded.right.fingerprint256}), valid until ${loaded.right.validTo.toISOString()}`)
    })

    const runtime = yield* Effect.runtime<never>()
    const runReload = () => Runtime.runFork(runtime)(reload)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        fs.watchFile(certPath, { interval: WATCH_INTERVAL_MS, persistent: false }, runReload)
        fs.watchFile(keyPath, { interval: WATCH_INTERVAL_MS, persistent: false }, runReload)
        process.on("SIGHUP", runReload)
      }),
      () =>
        Effect.sync(() => {
          fs.unwatchFile(certPath, runReload)
          fs.unwatchFile(keyPath, runReload)
          process.off("SIGHUP", runReload)
        })
    )

    const some: TlsCertificatesShape = {
      current: () => Option.some(state.material),
      onChange: (listener) => {
        listeners.add(listener)
        return () => void listeners.delete(listener)
      },
      reload
    }
    return some
  })
}) {}
