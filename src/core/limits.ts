/**
 * Connection limits shared by every listener (RTMP, RTMPS, HTTP): at most `--max-connections` at once,
 * and `--max-connections-per-ip` from one address. Admission is synchronous so an accept handler can
 * refuse a socket before anything else runs.
 */
import * as Effect from "effect/Effect"
import { ServerConfig } from "./config.js"

export interface Admission {
  /** Gives the place back; idempotent. */
  readonly release: () => void
}

export class ConnectionLimits extends Effect.Service<ConnectionLimits>()("effect-rtmp/ConnectionLimits", {
  effect: Effect.gen(function* () {
    const config = yield* ServerConfig
    let active = 0
    const perIp = new Map<string, number>()

    /** Admits a connection from `ip`, or names the flag of the limit that refuses it. */
    const unsafeAdmit = (ip: string): Admission | string => {
      const fromIp = perIp.get(ip) ?? 0
      if (active >= config.maxConnections) return `max-connections (${config.maxConnections})`
      if (fromIp >= config.maxConnectionsPerIp) return `max-connections-per-ip (${config.maxConnectionsPerIp})`
      active++
      perIp.set(ip, fromIp + 1)
      let released = false
      return {
        release: () => {
          if (released) return
          released = true
          active--
          const left = (perIp.get(ip) ?? 1) - 1
          if (left === 0) perIp.delete(ip)
          else perIp.set(ip, left)
        }
      }
    }

    return {
      unsafeAdmit,
      /** Connections admitted and not yet released, every protocol together. */
      active: Effect.sync(() => active)
    } as const
  })
}) {}
