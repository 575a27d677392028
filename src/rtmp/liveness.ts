/**
 * Whether an RTMP connection is still alive, decided from what it read, with no I/O: the Connections sweep
 * asks once a second, and the connection acts on the answer (sends the ping, ends the connection).
 *
 * A silent peer is pinged, and dropped when it stays silent: a dead TCP peer would otherwise hold its stream
 * key until the OS notices. Any byte counts as a sign of life, so players that rarely acknowledge are only
 * pinged, never dropped. A publisher that answers pings but sends no media (a stuck encoder) frees its
 * stream key after the idle limit.
 */

export interface LivenessLimits {
  /** Silence after which the peer is pinged. */
  readonly pingIntervalMillis: number
  /** Silence after a ping after which the peer is dropped. */
  readonly pingTimeoutMillis: number
  /** A publisher sending no media this long is dropped; 0 turns the check off. */
  readonly publisherIdleMillis: number
}

/** What the connection must do now: nothing, send a ping, or end for the reason given. */
export type LivenessVerdict = "alive" | "ping" | "pingTimeout" | "publisherIdle"

/** One per connection: a class, so its methods are shared rather than made per connection. */
export class Liveness {
  /** -1 until the first check, which takes whatever was read by then for a sign of life. */
  private bytesSeen = -1
  private heardAt = 0
  private pingedAt = -1
  private mediaSeen = 0
  private mediaAt = 0

  constructor(private readonly limits: LivenessLimits) {}

  /** The connection started publishing at `at`, having read `mediaMessages` media messages so far: the idle clock starts. */
  publishingSince(at: number, mediaMessages: number): void {
    this.mediaAt = at
    this.mediaSeen = mediaMessages
  }

  /**
   * The verdict at `at`, given the bytes the connection has read in all, whether it publishes now and the
   * media messages it has read in all. "ping" means the caller sends one now (at `at`).
   */
  check(at: number, bytesRead: number, publishing: boolean, mediaMessages: number): LivenessVerdict {
    let verdict: LivenessVerdict = "alive"
    if (bytesRead !== this.bytesSeen) {
      this.bytesSeen = bytesRead
      this.heardAt = at
      this.pingedAt = -1
    } else if (this.pingedAt >= 0) {
      if (at - this.pingedAt >= this.limits.pingTimeoutMillis) return "pingTimeout"
    } else if (at - this.heardAt >= this.limits.pingIntervalMillis) {
      this.pingedAt = at
      verdict = "ping"
    }
    if (this.limits.publisherIdleMillis > 0 && publishing) {
      if (mediaMessages !== this.mediaSeen) {
        this.mediaSeen = mediaMessages
        this.mediaAt = at
      } else if (at - this.mediaAt >= this.limits.publisherIdleMillis) {
        return "publisherIdle"
      }
    }
    return verdict
  }
}
