/**
 * effect-rtmp as a library: compose `RtmpServerLive` (listener + registry) with a `ServerConfig` layer
 * into your own Effect program, subscribe to stream lifecycle events through `StreamRegistry`, or use
 * the sans-IO protocol codecs directly.
 */
export * as Amf0 from "./protocol/amf0.js"
export * as ChunkReader from "./protocol/chunk-reader.js"
export * as ChunkWriter from "./protocol/chunk-writer.js"
export * as Errors from "./protocol/errors.js"
export * as Flv from "./protocol/flv.js"
export * as Handshake from "./protocol/handshake.js"
export * as Messages from "./protocol/messages.js"
export { ClientSession, defaultClientOptions, type ClientEvent, type ClientSessionOptions } from "./session/client-session.js"
export { ServerSession, type ServerSessionHandler, type SessionRequest } from "./session/server-session.js"
export * as Auth from "./server/auth.js"
export { Authorization, AuthDenied, type AccessRequest, type Authorizer } from "./server/auth.js"
export { defaults as serverDefaults, ServerConfig, type ServerConfigShape } from "./server/config.js"
export { ConnectionClosed, handleConnection } from "./server/connection.js"
export { ListenError, RtmpServer, RtmpServerLive, type ListeningAddress } from "./server/listener.js"
export { Player, type PlayerLimits, type PlayerTransport } from "./server/player.js"
export { StreamBusy, StreamEvent, StreamRegistry, type StreamInfo } from "./server/registry.js"
export { LiveStream, MediaFrame, type StreamSubscriber } from "./server/stream.js"
export { RelayHealth, RelayStatus, type RelayReport } from "./relay/health.js"
export { defaultRelayConfig, pullId, pushId, RelaysLive, type RelayConfig } from "./relay/relays.js"
export { defaultRetryPolicy, RelayError, retryPolicy, superviseRelay, type RetryPolicyOptions } from "./relay/supervisor.js"
export * as RtmpUrl from "./relay/url.js"
export { cli, command } from "./cli/main.js"
