/**
 * Recording one live stream to files, an output like any viewer: fragmented MP4 (init segment, then a
 * fragment at every keyframe and at least every second, appended: a crash or `kill -9` loses at most the
 * last fragment and the file still plays) or plain FLV. Files are split at keyframes once a file reaches
 * its duration or byte limit. A write error (full disk, unwritable directory) ends this recording and is
 * reported once; the stream and its viewers never notice. Plain code on the media path; the file
 * writes are Node's asynchronous ones.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { FLV_TAGS, flvHeaderFor } from "../flv/sink.js"
import { Fmp4Muxer } from "../media/fmp4-muxer.js"
import { type MediaFrame, sameConfig, TagType } from "../media/frame.js"
import type { LiveStream, StreamSubscriber } from "../media/stream.js"
import { makeDirectoriesSync } from "../transport/make-directories.js"

export interface RecordingSettings {
  readonly directory: string
  readonly format: "mp4" | "flv"
  /** A file is closed at the first keyframe after this many milliseconds (0: never). */
  readonly segmentMillis: number
  /** … or after this many bytes (0: never). */
  readonly maxBytes: number
}

export interface FinishedRecording {
  readonly app: string
  readonly name: string
  readonly path: string
  readonly startedAt: number
  readonly durationSeconds: number
  readonly bytes: number
}

export interface RecorderEvents {
  started(path: string): void
  finished(recording: FinishedRecording): void
  failed(message: string): void
}

/** A file name from the wall-clock start time, safe on every file system. */
const fileStamp = (at: number) => new Date(at).toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z")

/** The directory for a stream: DIR/APP/STREAM, with anything that could climb out replaced. */
export const recordingDirectory = (root: string, app: string, name: string) =>
  path.join(root, ...[...app.split("/"), name].map((segment) => (segment === "." || segment === ".." || segment === "" ? "_" : segment.replace(/[\0\\]/g, "_"))))

interface OpenFile {
  readonly path: string
  readonly out: fs.WriteStream
  readonly startedAt: number
  readonly firstTimestamp: number
  lastTimestamp: number
  bytes: number
  muxer: Fmp4Muxer | undefined
  /** Milliseconds of the last fragment's start, for the once-a-second flush. */
  lastFlushAt: number
  /** The decoder configuration records the file was started with. */
  readonly records: { readonly video: Uint8Array | undefined; readonly audio: Uint8Array | undefined }
  /** Another configuration came (a takeover by another encoder): the file ends at the next keyframe. */
  configChanged: boolean
}

export class Recorder implements StreamSubscriber {
  private file: OpenFile | undefined = undefined
  stopped = false

  constructor(
    readonly stream: LiveStream,
    private readonly settings: RecordingSettings,
    private readonly events: RecorderEvents,
    private readonly now: () => number
  ) {}

  /** Starts from the stream's GOP cache, so the file begins on the keyframe a viewer would get. */
  seed(): void {
    for (const frame of this.stream.gop) this.onFrame(this.stream, frame)
  }

  onPublish(): void {}
  onUnpublish(): void {}
  onTakeover(): void {}
  onData(): void {}

  onFrame(stream: LiveStream, frame: MediaFrame): void {
    // The default track only: a recording is one video and one audio track, as FLV and most players expect.
    if (this.stopped || frame.track !== 0) return
    if (frame.sequenceHeader) {
      // One file has one configuration per track (an MP4's init segment, what FLV players expect):
      // a different one starts a new file at the next keyframe; the same one again changes nothing.
      const file = this.file
      const record = frame.typeId === TagType.Video ? file?.records.video : file?.records.audio
      if (file !== undefined && !sameConfig(record, frame)) file.configChanged = true
      return
    }
    const video = stream.hasVideo
    const boundary = video ? frame.typeId === TagType.Video && frame.keyframe : frame.typeId === TagType.Audio
    if (this.file === undefined) {
      if (!boundary) return // a file starts on a keyframe (or any audio frame, for audio-only streams)
      this.open(stream, frame)
    } else if (boundary && (this.full(frame) || this.file.configChanged)) {
      this.close()
      this.open(stream, frame)
    }
    const file = this.file
    if (file === undefined) return
    file.lastTimestamp = frame.timestamp
    if (file.muxer === undefined) {
      this.write(file, frame.bytes(FLV_TAGS))
      return
    }
    file.muxer.push(frame)
    // A fragment per keyframe, and at least one a second: what a crash can lose.
    if (boundary || frame.timestamp - file.lastFlushAt >= 1000) {
      const fragment = file.muxer.flush()
      if (fragment !== undefined) this.write(file, fragment)
      file.lastFlushAt = frame.timestamp
    }
  }

  private full(frame: MediaFrame): boolean {
    const file = this.file
    if (file === undefined) return false
    return (this.settings.segmentMillis > 0 && frame.timestamp - file.firstTimestamp >= this.settings.segmentMillis) || (this.settings.maxBytes > 0 && file.bytes >= this.settings.maxBytes)
  }

  private open(stream: LiveStream, first: MediaFrame): void {
    const directory = recordingDirectory(this.settings.directory, stream.app, stream.name)
    const startedAt = this.now()
    // Two files started within a second (a split right after a start) get a counter, not a clash.
    let filePath = path.join(directory, `${fileStamp(startedAt)}.${this.settings.format}`)
    for (let k = 1; fs.existsSync(filePath); k++) filePath = path.join(directory, `${fileStamp(startedAt)}-${k}.${this.settings.format}`)
    try {
      makeDirectoriesSync(directory)
    } catch (cause) {
      return this.fail(`cannot create ${directory}: ${cause instanceof Error ? cause.message : String(cause)}`)
    }
    const out = fs.createWriteStream(filePath, { flags: "wx" })
    out.on("error", (error) => this.fail(`cannot write ${filePath}: ${error.message}`))
    const file: OpenFile = { path: filePath, out, startedAt, firstTimestamp: first.timestamp, lastTimestamp: first.timestamp, bytes: 0, muxer: undefined, lastFlushAt: first.timestamp, records: { video: stream.videoHeader?.payload, audio: stream.audioHeader?.payload }, configChanged: false }
    this.file = file
    if (this.settings.format === "flv") {
      this.write(file, flvHeaderFor(stream))
      for (const header of [stream.metadata, stream.videoHeader, stream.audioHeader]) if (header !== undefined) this.write(file, header.bytes(FLV_TAGS))
    } else {
      const muxer = new Fmp4Muxer(() => stream.announcedSize())
      for (const header of [stream.videoHeader, stream.audioHeader]) if (header !== undefined) muxer.push(header)
      const init = muxer.init()
      if (init === undefined) return this.fail(`${stream.key}: no codec this recorder can write to MP4 (try --record-format flv)`)
      file.muxer = muxer
      this.write(file, init)
    }
    this.events.started(filePath)
  }

  private write(file: OpenFile, bytes: Uint8Array): void {
    file.bytes += bytes.length
    file.out.write(bytes)
  }

  /** Ends the current file (the fragment still held back is written first). */
  private close(): void {
    const file = this.file
    if (file === undefined) return
    this.file = undefined
    const last = file.muxer?.flush()
    if (last !== undefined) this.write(file, last)
    const recording: FinishedRecording = {
      app: this.stream.app,
      name: this.stream.name,
      path: file.path,
      startedAt: file.startedAt,
      durationSeconds: Math.max(0, (file.lastTimestamp - file.firstTimestamp) / 1000),
      bytes: file.bytes
    }
    file.out.end(() => {
      if (!this.failedPaths.has(file.path)) this.events.finished(recording)
    })
  }

  private readonly failedPaths = new Set<string>()

  private fail(message: string): void {
    if (this.stopped) return
    this.stopped = true
    if (this.file !== undefined) {
      this.failedPaths.add(this.file.path)
      this.file.out.destroy()
      this.file = undefined
    }
    this.events.failed(message)
  }

  /** The stream ended (or the server stops): the file is completed and announced. */
  stop(): void {
    if (this.stopped) return
    this.close()
    this.stopped = true
  }
}
