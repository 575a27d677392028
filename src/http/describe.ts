/**
 * What the API, the pages and the metrics say about a live stream: names, codecs, resolution, viewers by
 * protocol, counters. Read from the stream core's plain objects; never a publish key, token or query.
 */
import { inspectAudio, inspectVideo } from "../protocol/flv.js"
import type { LiveStream } from "../media/stream.js"
import { Viewer } from "../media/viewer.js"

/** Legacy codec ids and E-RTMP FourCCs, as people name the codecs. */
const CODEC_NAMES: Record<string, string> = {
  "video:2": "h263", "video:3": "screen", "video:4": "vp6", "video:5": "vp6a", "video:6": "screen2", "video:7": "h264", "video:12": "hevc",
  "audio:2": "mp3", "audio:6": "nellymoser", "audio:7": "g711a", "audio:8": "g711u", "audio:10": "aac", "audio:11": "speex",
  avc1: "h264", hvc1: "hevc", av01: "av1", vp09: "vp9", vp08: "vp8", Opus: "opus", fLaC: "flac", "ac-3": "ac3", "ec-3": "eac3", ".mp3": "mp3", mp4a: "aac"
}

const codecName = (kind: "video" | "audio", codec: number | string): string =>
  (typeof codec === "string" ? CODEC_NAMES[codec] : CODEC_NAMES[`${kind}:${codec}`]) ?? String(codec)

export interface StreamDescription {
  readonly app: string
  readonly name: string
  readonly live: boolean
  readonly publisher: { readonly id: string; readonly uptimeSeconds: number } | null
  readonly video: { readonly codec: string; readonly width: number | null; readonly height: number | null; readonly fps: number | null } | null
  readonly audio: { readonly codec: string; readonly sampleRate: number | null; readonly channels: number | null } | null
  readonly viewers: Record<string, number>
  readonly bytesIn: number
  readonly framesIn: number
  readonly framesDropped: number
  /** Bytes queued to this stream's viewers and not yet sent. */
  readonly queuedBytes: number
}

const numberOr = (value: unknown): number | null => (typeof value === "number" && Number.isFinite(value) ? value : null)

const videoOf = (stream: LiveStream, metadata: ReadonlyMap<string, unknown>): StreamDescription["video"] => {
  if (stream.videoHeader === undefined && !stream.hasVideo) return null
  const codec = stream.videoHeader === undefined ? "unknown" : codecName("video", inspectVideo(stream.videoHeader.payload).codec)
  return { codec, width: numberOr(metadata.get("width")), height: numberOr(metadata.get("height")), fps: numberOr(metadata.get("framerate") ?? metadata.get("fps")) }
}

const audioOf = (stream: LiveStream, metadata: ReadonlyMap<string, unknown>): StreamDescription["audio"] => {
  if (stream.audioHeader === undefined) return null
  const stereo = metadata.get("stereo")
  return {
    codec: codecName("audio", inspectAudio(stream.audioHeader.payload).codec),
    sampleRate: numberOr(metadata.get("audiosamplerate")),
    channels: numberOr(metadata.get("audiochannels")) ?? (typeof stereo === "boolean" ? (stereo ? 2 : 1) : null)
  }
}

export const describeStream = (stream: LiveStream, now: number): StreamDescription => {
  const metadata = stream.metadataFields
  const viewers: Record<string, number> = { rtmp: 0, "http-flv": 0, "ws-flv": 0 }
  let queuedBytes = 0
  for (const subscriber of stream.players) {
    if (!(subscriber instanceof Viewer)) continue
    viewers[subscriber.sink.protocol] = (viewers[subscriber.sink.protocol] ?? 0) + 1
    queuedBytes += subscriber.sink.queuedBytes()
  }
  return {
    app: stream.app,
    name: stream.name,
    live: stream.isLive,
    publisher: stream.publisher === undefined ? null : { id: stream.publisher.connectionId, uptimeSeconds: Math.max(0, Math.round((now - stream.publishedAt) / 1000)) },
    video: stream.isLive ? videoOf(stream, metadata) : null,
    audio: stream.isLive ? audioOf(stream, metadata) : null,
    viewers,
    bytesIn: stream.bytesIn,
    framesIn: stream.framesIn,
    framesDropped: stream.framesDropped,
    queuedBytes
  }
}
