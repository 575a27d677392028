/**
 * A push relay's sink that can move to a new connection without a gap or a duplicate: E-RTMP's
 * Reconnect Request says "keep streaming to the next keyframe, then continue on the new connection".
 * Frames go to the current connection until a new one is pending; at the next keyframe of the default
 * track (any audio frame, for audio-only streams) the new connection gets the metadata and decoder
 * configurations, then that keyframe and everything after; the old one gets nothing more.
 */
import { type MediaFrame, TagType } from "../media/frame.js"
import type { LiveStream } from "../media/stream.js"
import type { TrackFilter } from "../media/tracks.js"
import type { Sink } from "../media/viewer.js"

export class HandoverSink implements Sink {
  readonly protocol = "push"
  private pending: { readonly sink: Sink; readonly switched: () => void } | undefined = undefined

  constructor(
    private current: Sink,
    private readonly stream: LiveStream,
    /** The push's codec allowlist, so the new connection gets only the headers the viewer would send. */
    private readonly filter: () => TrackFilter | undefined
  ) {}

  /** Moves to `next` at the next keyframe; `switched` runs once it has (the old connection can then go). */
  handOver(next: Sink, switched: () => void): void {
    this.pending = { sink: next, switched }
  }

  private isCutPoint(frame: MediaFrame): boolean {
    if (frame.sequenceHeader || frame.track !== 0) return false
    return this.stream.hasVideo ? frame.typeId === TagType.Video && frame.keyframe : frame.typeId === TagType.Audio
  }

  write(frame: MediaFrame, timestamp?: number): void {
    const pending = this.pending
    if (pending !== undefined && this.isCutPoint(frame)) {
      this.pending = undefined
      const next = pending.sink
      const filter = this.filter()
      next.start?.(this.stream)
      if (this.stream.metadata !== undefined) next.write(this.stream.metadata)
      for (const headers of [this.stream.videoHeaders, this.stream.audioHeaders]) {
        for (const header of headers.values()) {
          if (filter === undefined || filter.accepts(header.typeId, header.track, header.codec, header.enhanced)) next.write(header, frame.timestamp)
        }
      }
      this.current = next
      pending.switched()
    }
    this.current.write(frame, timestamp)
  }

  queuedBytes(): number {
    return this.current.queuedBytes()
  }

  close(reason: string): void {
    this.current.close(reason)
  }
}
