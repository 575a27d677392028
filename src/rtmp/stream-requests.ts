/**
 * What one RTMP connection publishes and plays. The session's requests (connect, publish, play, pause, …)
 * are decided here against Access, in the connection's fiber, one at a time; each publish and play is held
 * in a scope of its own, which leaves the registry when it closes. A publisher's media and data go from
 * the session to its stream through here. The connection (connection.ts) owns the socket, the handshake
 * and the connection's life; this owns its streams.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as net from "node:net"
import { Access } from "../core/access.js"
import type { AccessRequest } from "../core/auth.js"
import { type ServerConfigShape, viewerLimits } from "../core/config.js"
import type { LiveStream, PublisherInfo } from "../media/stream.js"
import { Viewer } from "../media/viewer.js"
import { AmfObject, type AmfValue, encodeAll } from "../protocol/amf0.js"
import type { RtmpMessage } from "../protocol/chunk-reader.js"
import { CapsEx } from "../protocol/ertmp.js"
import type { ServerSession, SessionRequest } from "../session/server-session.js"
import { inBatch, mergeWrites } from "../transport/write-batch.js"
import { describePeer, LEGACY_PEER, type PeerCapabilities, readPeerCapabilities, serverCapabilities } from "./capabilities.js"
import type { ConnectionClosed } from "./connection.js"
import type { Liveness } from "./liveness.js"
import { RtmpPlaySink, type RtmpTransport } from "./sinks.js"

/** A publish on one message stream, held in its own scope: closing it unpublishes. */
interface Publishing {
  readonly scope: Scope.CloseableScope
  readonly stream: LiveStream
  readonly info: PublisherInfo
  /** The name the client published to (a key, when keys map to public names). */
  readonly requestedName: string
}

/** A play on one message stream, held in its own scope: closing it leaves the stream. */
interface Playing {
  readonly scope: Scope.CloseableScope
  readonly stream: LiveStream
  readonly viewer: Viewer
}

/** What the connection lends its streams. */
export interface ConnectionContext {
  readonly connectionId: string
  readonly protocol: "rtmp" | "rtmps"
  readonly socket: net.Socket
  readonly config: ServerConfigShape
  readonly access: Access
  readonly session: ServerSession
  /** The connection's batched output, shared by its session's answers and its players' media. */
  readonly output: RtmpTransport
  readonly liveness: Liveness
  readonly now: () => number
  /** Whether the connection has ended (its streams are being let go). */
  readonly ended: () => boolean
  /** Ends the connection (logged with the reason). */
  readonly close: (reason: ConnectionClosed["reason"], message: string) => void
}

/** One per connection: a class, so its methods are shared rather than made per connection. */
export class ConnectionStreams {
  readonly publishing = new Map<number, Publishing>()
  readonly playing = new Map<number, Playing>()
  /** Media messages read in all: the liveness check's sign of a publisher's life. */
  mediaMessages = 0
  private app: string | undefined = undefined
  private peer: PeerCapabilities = LEGACY_PEER
  /** A reconnecting publisher's new connection (this one) took the stream over: the old one is closed. */
  private readonly handedOver = (previous: PublisherInfo) => previous.kick?.(`handed over to ${this.context.connectionId} (reconnect)`)
  /** How the players' sinks announce a stream's state to the client. */
  private readonly announcements = {
    status: (streamId: number, level: "status" | "error", code: string, description: string) =>
      this.context.session.sendStatus(streamId, level, code, description),
    userControl: (control: Parameters<ServerSession["sendUserControl"]>[0]) => this.context.session.sendUserControl(control)
  }

  constructor(private readonly context: ConnectionContext) {}

  /** A media message from the session, for the stream it publishes to. */
  media(message: RtmpMessage): void {
    this.mediaMessages++
    const entry = this.publishing.get(message.streamId)
    // After a takeover this connection is on its way out: its media must not reach the stream.
    if (entry !== undefined && entry.stream.acceptsMediaFrom(entry.info, this.handedOver)) {
      entry.stream.publishMedia(message.typeId, message.timestamp, message.payload)
    }
  }

  /** A data message from the session: metadata is kept for the stream, anything else passed on. */
  data(streamId: number, values: ReadonlyArray<AmfValue>, setDataFrame: boolean, timestamp: number): void {
    const entry = this.publishing.get(streamId)
    if (entry === undefined || !entry.stream.acceptsMediaFrom(entry.info, this.handedOver)) return
    const target = entry.stream
    const [name, value] = values
    if (name === "onMetaData" && value instanceof AmfObject) target.setMetadata(value)
    else if (setDataFrame && name === "@clearDataFrame") target.clearMetadata()
    else if (!setDataFrame || name !== "onMetaData") target.publishData(encodeAll(values), timestamp)
  }

  role(): "publisher" | "player" | "connecting" {
    return this.publishing.size > 0 ? "publisher" : this.playing.size > 0 ? "player" : "connecting"
  }

  /** The stream this connection publishes or plays, for the connection list. */
  streamKey(): string | undefined {
    return (this.publishing.values().next().value ?? this.playing.values().next().value)?.stream.key
  }

  droppedFrames(): number {
    let dropped = 0
    for (const entry of this.playing.values()) dropped += entry.viewer.droppedFrames
    return dropped
  }

  /** Asks the publisher to reconnect (E-RTMP), when it said it can, or `force`. */
  requestReconnect(tcUrl: string | undefined, description: string, force = false): boolean {
    if (this.context.ended() || (!force && (this.peer.capsEx & CapsEx.Reconnect) === 0)) return false
    this.context.session.sendReconnectRequest(tcUrl, description)
    // Its next connection may take the stream over at once (the takeover path: viewers stay, time continues).
    for (const entry of this.publishing.values()) if (entry.stream.publisher === entry.info) entry.stream.publisherMoving = true
    return true
  }

  /** Unpublishes and stops playing everything: the connection's end. */
  stopAll(): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      for (const id of [...this.publishing.keys()]) yield* this.stopPublishing(id)
      for (const id of [...this.playing.keys()]) yield* this.stopPlaying(id)
    })
  }

  private stopPublishing(streamId: number): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      const entry = this.publishing.get(streamId)
      if (entry === undefined) return Effect.succeed(false)
      this.publishing.delete(streamId)
      return Scope.close(entry.scope, Exit.void).pipe(Effect.zipRight(Effect.logInfo(`Unpublished ${entry.stream.key}`)), Effect.as(true))
    })
  }

  private stopPlaying(streamId: number): Effect.Effect<void> {
    return Effect.suspend(() => {
      const entry = this.playing.get(streamId)
      if (entry === undefined) return Effect.void
      this.playing.delete(streamId)
      entry.viewer.stop()
      return Scope.close(entry.scope, Exit.void).pipe(Effect.zipRight(Effect.logInfo(`Stopped playing ${entry.stream.key}`)))
    })
  }

  private reject(message: string): Effect.Effect<void> {
    return Effect.sync(() => this.context.close("Rejected", message))
  }

  /** Answers a publish or play with an error status, logs `warning` when given, and ends the connection. */
  private refuse(streamId: number, code: string, description: string, reason: string, warning?: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.context.session.sendStatus(streamId, "error", code, description)
      return warning === undefined ? this.reject(reason) : Effect.logWarning(warning).pipe(Effect.zipRight(this.reject(reason)))
    })
  }

  private accessRequest(app: string, name: string, query: string): AccessRequest {
    const { socket, connectionId, protocol } = this.context
    return { app, name, query, remoteAddress: socket.remoteAddress ?? "", connectionId, protocol }
  }

  /** Why a publish or play cannot be served, or `undefined` when it can. */
  private invalidStreamRequest(what: "publish" | "play", streamId: number, name: string): string | undefined {
    return this.app === undefined
      ? `${what} before connect`
      : name === ""
        ? "empty stream name"
        : this.context.session.streams.has(streamId)
          ? undefined
          : `unknown stream id ${streamId}`
  }

  /**
   * Checks a publish or play, then clears its message stream of what it published or played before: the
   * connected app, or `undefined` once refused (the connection is ending).
   */
  private admit(what: "publish" | "play", streamId: number, name: string): Effect.Effect<string | undefined> {
    return Effect.gen(this, function* () {
      const refusal = this.invalidStreamRequest(what, streamId, name)
      const app = this.app
      if (refusal !== undefined || app === undefined) {
        const code = what === "publish" ? "NetStream.Publish.BadName" : "NetStream.Play.Failed"
        yield* this.refuse(streamId, code, refusal ?? "", `${what} refused: ${refusal}`)
        return undefined
      }
      yield* this.stopPublishing(streamId)
      yield* this.stopPlaying(streamId)
      return app
    })
  }

  /** Decides one of the session's requests; the session waits for it before reading on. */
  handle(request: SessionRequest): Effect.Effect<void> {
    switch (request._tag) {
      case "Connect":
        return this.connect(request)
      case "Publish":
        return this.publish(request)
      case "Play":
        return this.play(request)
      case "CloseStream":
        return Effect.gen(this, function* () {
          if (yield* this.stopPublishing(request.streamId)) {
            this.context.session.sendStatus(request.streamId, "status", "NetStream.Unpublish.Success", "stream unpublished")
          }
          yield* this.stopPlaying(request.streamId)
        })
      case "Unpublish":
        return Effect.gen(this, function* () {
          for (const [streamId, entry] of this.publishing) {
            if (entry.requestedName === request.name) yield* this.stopPublishing(streamId)
          }
        })
      case "ReceiveMedia":
        return Effect.sync(() => {
          const entry = this.playing.get(request.streamId)
          if (entry === undefined) return
          if (request.kind === "audio") entry.viewer.receiveAudio = request.enabled
          else entry.viewer.setReceiveVideo(entry.stream, request.enabled)
        })
      case "Pause":
        return Effect.sync(() => {
          const entry = this.playing.get(request.streamId)
          if (entry === undefined) return
          entry.viewer.setPaused(entry.stream, request.paused)
          const code = request.paused ? "NetStream.Pause.Notify" : "NetStream.Unpause.Notify"
          this.context.session.sendStatus(request.streamId, "status", code, request.paused ? "Paused" : "Unpaused")
        })
    }
  }

  private connect(request: Extract<SessionRequest, { _tag: "Connect" }>): Effect.Effect<void> {
    const { session } = this.context
    if (request.app === undefined) {
      session.rejectConnect(request.transactionId, "connect without an app name")
      return this.reject("connect without an app name")
    }
    const app = (this.app = request.app)
    const peer = (this.peer = readPeerCapabilities(request.commandObject))
    // Its four messages (window, bandwidth, chunk size, _result) in one write, as one segment, not four.
    inBatch(() => session.acceptConnect(request.transactionId, request.objectEncoding, app, serverCapabilities()))
    return Effect.logInfo(
      `Connected to app '${request.app}'${request.tcUrl ? ` (tcUrl ${request.tcUrl})` : ""}${peer.enhanced ? ` (E-RTMP: ${describePeer(peer)})` : ""}`
    )
  }

  private publish(request: Extract<SessionRequest, { _tag: "Publish" }>): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      const { session, access, liveness, now } = this.context
      const { streamId, name } = request
      const app = yield* this.admit("publish", streamId, name)
      if (app === undefined) return
      const scope = yield* Scope.make()
      const kick = (reason: string) => this.context.close("TakenOver", reason)
      const result = yield* access.publish(this.accessRequest(app, name, request.query), kick).pipe(Scope.extend(scope), Effect.either)
      if (result._tag === "Left") {
        yield* Scope.close(scope, Exit.void)
        const error = result.left
        // The requested name may be a secret key: it is never logged.
        return yield* error._tag === "AuthDenied"
          ? this.refuse(streamId, "NetStream.Publish.BadName", "publish denied", "publish denied", `Publish denied on app '${app}': ${error.reason}`)
          : this.refuse(
            streamId,
            "NetStream.Publish.BadName",
            `${app}/${error.name} is already being published`,
            "stream already published",
            `Publish refused: ${app}/${error.name} is already published by ${error.publisher}`
          )
      }
      const { stream, publisher: info, name: publicName } = result.right
      this.publishing.set(streamId, { scope, stream, info, requestedName: name })
      if (this.publishing.size === 1) liveness.publishingSince(now(), this.mediaMessages)
      inBatch(() => {
        session.sendUserControl({ event: 0, streamId })
        session.sendStatus(streamId, "status", "NetStream.Publish.Start", `${publicName} is now published`)
      })
      yield* Effect.logInfo(`Publishing ${app}/${publicName} (${request.publishType})`)
    })
  }

  private play(request: Extract<SessionRequest, { _tag: "Play" }>): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      const { session, access, config, output, socket, now } = this.context
      const { streamId, name } = request
      const app = yield* this.admit("play", streamId, name)
      if (app === undefined) return
      const viewer = new Viewer(new RtmpPlaySink(streamId, config.chunkSize, output, this.announcements), viewerLimits(config), now)
      viewer.filter = this.peer.filter // only the tracks and codecs this player declared it can take
      const scope = yield* Scope.make()
      const joined = yield* access.play(this.accessRequest(app, name, request.query), viewer).pipe(Scope.extend(scope), Effect.either)
      if (joined._tag === "Left") {
        yield* Scope.close(scope, Exit.void)
        return yield* this.refuse(streamId, "NetStream.Play.Failed", "play denied", "play denied", `Play denied on app '${app}': ${joined.left.reason}`)
      }
      const stream = joined.right
      this.playing.set(streamId, { scope, stream, viewer })
      // The answers and the GOP burst go out as one writev.
      inBatch(() => {
        session.sendUserControl({ event: 0, streamId })
        session.sendStatus(streamId, "status", "NetStream.Play.Reset", `Playing and resetting ${name}`)
        session.sendStatus(streamId, "status", "NetStream.Play.Start", `Started playing ${name}`)
        // No `onStatus NetStream.Data.Start` data message (FMS and SRS send one): libavformat's FLV
        // demuxer turns script data with a name it does not know into a phantom data stream.
        // `|RtmpSampleAccess` at timestamp 0 is a name it knows and skips.
        session.sendData(streamId, ["|RtmpSampleAccess", true, true])
        viewer.start(stream)
      })
      mergeWrites(socket, Duration.toMillis(config.mergeWrites)) // after the start: a joining player gets it at once
      yield* Effect.logInfo(`Playing ${app}/${name}${stream.isLive ? "" : " (waiting for a publisher)"}`)
    })
  }
}
