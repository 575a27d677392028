/**
 * The LL-HLS packager of one live stream, an output like any viewer: it subscribes to the stream, muxes
 * every frame once into fMP4 parts (~200 ms) and segments (cut at a keyframe once ≥ 2 s), keeps the
 * newest segments (older URIs answer 404), renders its playlist once per published part, and wakes the
 * requests waiting for a part (blocking playlist reload, preload hints). Plain code on the media path;
 * the HTTP side asks it synchronously and parks its waiters here.
 */
import { Fmp4Muxer } from "../media/fmp4-muxer.js"
import { type MediaFrame, TagType } from "../media/frame.js"
import type { LiveStream, StreamSubscriber } from "../media/stream.js"
import { type PartInfo, partHoldBack, renderMediaPlaylist } from "./playlist.js"

export interface PackagerOptions {
  /** Nominal part duration, seconds. */
  readonly partDuration: number
  /** Shortest segment, seconds: a segment ends at the first keyframe after this. */
  readonly minSegmentDuration: number
  /** Complete segments kept. */
  readonly segmentCount: number
  /** First media sequence number (continues across republishes). */
  readonly firstMsn: number
  readonly discontinuitySequence: number
  readonly now: () => number
  /**
   * Started on demand, while the stream runs: the first segment (from the cached GOP on) ends at the next
   * keyframe however short, so the first playlist waits at most a GOP, and every segment starts on a keyframe.
   */
  readonly quickStart?: boolean
  /** The stream's keyframe interval in ms, if known: the target duration covers the segments it makes. */
  readonly keyframeInterval?: () => number | undefined
}

interface Part extends PartInfo {
  readonly bytes: Uint8Array
}

interface Segment {
  readonly msn: number
  /** Which init segment its parts need. */
  readonly init: number
  /** Its decoder configuration differs from the previous segment's (a takeover by another encoder). */
  readonly discontinuity: boolean
  readonly parts: Array<Part>
  /** It starts on a keyframe (its first part is INDEPENDENT); one cut elsewhere ends at the next keyframe. */
  readonly independent: boolean
  readonly startDts: number
  readonly programDateTime: number
  duration: number
}

/** A request waiting for a part: woken when (msn, part) exists or the packager stops, expired at its deadline. */
interface Waiter {
  readonly msn: number
  readonly part: number
  readonly wake: () => void
  readonly expire: () => void
  readonly deadline: number
}

/** Playlist variants (full or delta, per client query) kept rendered per part. */
const MAX_CACHED_PLAYLISTS = 64

/** The items that pass `test`, and the rest, in one pass. */
const partition = <A>(items: ReadonlyArray<A>, test: (item: A) => boolean): [Array<A>, Array<A>] => {
  const passed: Array<A> = []
  const failed: Array<A> = []
  for (const item of items) (test(item) ? passed : failed).push(item)
  return [passed, failed]
}

const randomSid = () => Math.random().toString(16).slice(2, 10)

export class HlsPackager implements StreamSubscriber {
  readonly sid = randomSid()
  private readonly muxer: Fmp4Muxer
  /** Init segments by number, kept while a listed segment needs one. */
  private readonly inits = new Map<number, Uint8Array>()
  private initCount = 0
  /** The muxer's configuration version the newest init segment was made from. */
  private initVersion = -1
  /** Of the first listed segment: the first value, plus one per configuration change evicted since. */
  private discontinuitySequence: number
  private readonly segments: Array<Segment> = []
  private open: Segment | undefined = undefined
  private partStart: number | undefined = undefined
  private waiters: Array<Waiter> = []
  /** Requests that came before the first playlist could be served. */
  private readyWaiters: Array<{ readonly then: (ready: boolean) => void; readonly deadline: number }> = []
  /** Rendered playlists of the newest part, by delta-or-not and client query (tokens); emptied per part. */
  private readonly playlists = new Map<string, Buffer>()
  /** Fixed once the first segment completes (the spec forbids changing either). */
  targetDuration = 0
  partTarget = 0
  stopped = false
  /** Timestamp (ms) of the newest frame taken. */
  private latest = 0
  private seeding = false
  /** Wall-clock ms of the newest HLS request for this stream (on-demand packagers stop when it gets old). */
  lastRequestAt = 0
  /** The highest bit rate of a complete segment: the variant's BANDWIDTH. */
  private peakBitsPerSecond = 0

  constructor(
    readonly stream: LiveStream,
    private readonly options: PackagerOptions,
    sizeHint: () => { width?: number; height?: number } = () => ({})
  ) {
    this.muxer = new Fmp4Muxer(sizeHint)
    this.discontinuitySequence = options.discontinuitySequence
  }

  /** Starts from what the stream already has: decoder configurations and the cached GOP. */
  seed(): void {
    for (const header of [this.stream.videoHeader, this.stream.audioHeader]) if (header !== undefined) this.muxer.push(header)
    // The cached frames were ingested up to a GOP ago: their wall-clock times count back from the newest.
    this.latest = this.stream.gop.at(-1)?.timestamp ?? 0
    this.seeding = true
    for (const frame of this.stream.gop) if (frame.track === 0) this.take(frame)
    this.seeding = false
  }

  onPublish(): void {}
  onUnpublish(): void {}
  onTakeover(): void {}
  onData(): void {}

  onFrame(_stream: LiveStream, frame: MediaFrame): void {
    // The default track only (E-RTMP track 0): one rendition per stream.
    if (!this.stopped && frame.track === 0) this.take(frame)
  }

  private leadingIsVideo(): boolean {
    return this.muxer.video !== undefined
  }

  private take(frame: MediaFrame): void {
    if (!this.muxer.push(frame) || frame.sequenceHeader) return
    if (!this.seeding) this.latest = frame.timestamp
    const leading = this.leadingIsVideo() ? frame.typeId === TagType.Video : frame.typeId === TagType.Audio
    if (!leading) return
    const at = this.muxer.pendingStart()
    if (at === undefined) return
    // The frame just pushed is held back (its duration is unknown); everything before it can go out.
    // Times are whole milliseconds (FLV's), so part and segment boundaries are exact: no float drift.
    const now = frame.timestamp
    if (this.open === undefined) {
      if (this.leadingIsVideo() && !frame.keyframe) return this.discardUntilKeyframe()
      this.startSegment(now)
      return
    }
    // A new decoder configuration (another encoder took the stream over) starts a segment with a new init
    // segment and a discontinuity, at its first keyframe.
    if (this.muxer.configVersion !== this.initVersion && (frame.keyframe || !this.leadingIsVideo())) {
      this.closePart()
      this.closeSegment()
      this.startSegment(now)
      return
    }
    const segmentAge = now - this.open.startDts
    // A GOP longer than the target duration is cut anyway (that segment starts with a non-independent
    // part): EXTINF rounded must never exceed TARGETDURATION.
    const forced = this.targetDuration > 0 && segmentAge >= this.targetDuration * 1000 + 400
    const boundary = frame.keyframe || !this.leadingIsVideo()
    const quick = this.options.quickStart === true && this.segments.length === 0 && segmentAge > 0
    if ((boundary && (segmentAge >= this.options.minSegmentDuration * 1000 || !this.open.independent || quick)) || forced) {
      this.closePart()
      this.closeSegment()
      this.startSegment(now, boundary)
      return
    }
    if (this.partStart !== undefined && now - this.partStart >= Math.round(this.options.partDuration * 1000)) this.closePart(now)
  }

  /** Before the first keyframe nothing can be decoded: drop what the muxer holds. */
  private discardUntilKeyframe(): void {
    this.muxer.flush()
  }

  /** Starts a segment at `at` (ms); `independent` when that is a keyframe (or audio). */
  private startSegment(at: number, independent = true): void {
    const previous = this.lastSegment()
    let discontinuity = false
    if (this.muxer.configVersion !== this.initVersion) {
      const init = this.muxer.init()
      if (init === undefined) return
      discontinuity = previous !== undefined
      this.inits.set(++this.initCount, init)
      this.initVersion = this.muxer.configVersion
    }
    const msn = (previous?.msn ?? this.options.firstMsn - 1) + 1
    // Wall-clock time of its first sample: now, less how far the newest frame is past it (seeded frames are older).
    const programDateTime = this.options.now() - Math.max(0, this.latest - at)
    this.open = { msn, init: this.initCount, discontinuity, parts: [], independent, startDts: at, programDateTime, duration: 0 }
    this.partStart = at
  }

  private lastSegment(): Segment | undefined {
    return this.segments.at(-1)
  }

  private closePart(now?: number): void {
    const open = this.open
    if (open === undefined) return
    const bytes = this.muxer.flush()
    if (bytes === undefined) return
    const start = this.partStart ?? open.startDts
    const pending = this.muxer.pendingStart()
    const end = now ?? (pending === undefined ? start : Math.round(pending * 1000))
    const duration = Math.max(1, end - start) / 1000
    open.parts.push({ index: open.parts.length, duration, independent: open.parts.length === 0 && this.leadingIsVideo() && open.independent, bytes })
    open.duration += duration
    this.partStart = end
    this.published()
  }

  private closeSegment(): void {
    const open = this.open
    if (open === undefined || open.parts.length === 0) return
    this.segments.push(open) // its parts are its bytes: a segment is never copied, it is served part after part
    const size = open.parts.reduce((n, p) => n + p.bytes.length, 0)
    this.peakBitsPerSecond = Math.max(this.peakBitsPerSecond, (8 * size) / Math.max(open.duration, 0.001))
    if (this.targetDuration === 0) {
      // Segments run to the first keyframe after the shortest duration: with a known keyframe interval that is
      // what later segments last, even when this first one (seeded on demand) is shorter.
      const interval = (this.options.keyframeInterval?.() ?? 0) / 1000
      const expected = interval > 0 ? interval * Math.ceil(this.options.minSegmentDuration / interval - 0.001) : 0
      this.targetDuration = Math.max(Math.ceil(this.options.minSegmentDuration), Math.ceil(open.duration - 0.001), Math.ceil(expected - 0.001))
      this.partTarget = Math.max(...open.parts.map((p) => p.duration), this.options.partDuration)
    }
    while (this.segments.length > this.options.segmentCount) {
      this.segments.shift()
      if (this.segments[0]?.discontinuity === true) this.discontinuitySequence++
    }
    const oldest = this.segments[0]?.init ?? open.init
    for (const index of this.inits.keys()) if (index < oldest) this.inits.delete(index)
    this.open = undefined
    this.published()
  }

  /** A part or segment completed: re-render the playlist and wake whoever waited for it. */
  private published(): void {
    this.playlists.clear()
    if (this.readyWaiters.length > 0 && this.ready) {
      const waiting = this.readyWaiters
      this.readyWaiters = []
      for (const waiter of waiting) waiter.then(true)
    }
    const [ready, waiting] = partition(this.waiters, (w) => this.hasPart(w.msn, w.part))
    if (ready.length === 0) return
    this.waiters = waiting
    for (const waiter of ready) waiter.wake()
  }

  /** Stops packaging: waiters are woken (and will find nothing), memory goes with the packager. */
  stop(): void {
    this.stopped = true
    const readyWaiters = this.readyWaiters
    this.readyWaiters = []
    for (const waiter of readyWaiters) waiter.then(false)
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter.wake()
  }

  // --- what the HTTP side asks -------------------------------------------------------------------------

  /**
   * True once a playlist can be served: the first segment is complete — and, after a quick start, the live
   * segment behind the seeded one holds PART-HOLD-BACK of parts. A player starts PART-HOLD-BACK behind the
   * edge, from the independent part at or before it: without those parts that is the seeded GOP's start, up
   * to a GOP older than live, and hls.js then stays that far behind (1.7 instead of 0.9 s in the browser test).
   */
  get ready(): boolean {
    if (this.targetDuration === 0 || this.inits.size === 0) return false
    if (this.options.quickStart !== true || this.segments.length > 1) return true
    return (this.open?.duration ?? 0) >= partHoldBack(this.partTarget) - 0.001
  }

  /** Init segment `index` (1 for the first), while a listed segment needs it. */
  initSegment(index: number): Uint8Array | undefined {
    return this.inits.get(index)
  }

  codecs(): string {
    return this.muxer.codecs()
  }

  /** Content-Type of init segments, segments and parts. */
  mediaType(): "video/mp4" | "audio/mp4" {
    return this.muxer.video !== undefined ? "video/mp4" : "audio/mp4"
  }

  videoSize(): { width: number; height: number } {
    return { width: this.muxer.video?.width ?? 0, height: this.muxer.video?.height ?? 0 }
  }

  bandwidth(): number {
    return this.peakBitsPerSecond
  }

  /** The discontinuity sequence number of the newest segment: where a republish continues from. */
  lastDiscontinuitySequence(): number {
    const listed = [...this.segments.slice(1), ...(this.open !== undefined && this.open.parts.length > 0 ? [this.open] : [])]
    return this.discontinuitySequence + listed.filter((s) => s.discontinuity).length
  }

  /** The next segment number and part index not yet published. */
  edge(): { msn: number; part: number } {
    return this.open === undefined ? { msn: (this.lastSegment()?.msn ?? this.options.firstMsn - 1) + 1, part: 0 } : { msn: this.open.msn, part: this.open.parts.length }
  }

  /** Whether part `part` of segment `msn` is published; a part past a complete segment's last means the next segment's first. */
  hasPart(msn: number, part: number): boolean {
    const complete = this.segments.find((s) => s.msn === msn)
    if (complete !== undefined) return part < complete.parts.length || this.hasPart(msn + 1, 0)
    return this.open !== undefined && this.open.msn === msn && part < this.open.parts.length
  }

  /** A complete segment as the list of its parts' bytes (write them in order). */
  segment(msn: number): ReadonlyArray<Uint8Array> | undefined {
    return this.segments.find((s) => s.msn === msn)?.parts.map((p) => p.bytes)
  }

  part(msn: number, index: number): Uint8Array | undefined {
    const segment = this.segments.find((s) => s.msn === msn) ?? (this.open?.msn === msn ? this.open : undefined)
    return segment?.parts[index]?.bytes
  }

  /**
   * Parks `wake` until (msn, part) is published; `expire` is called instead once three target durations
   * pass (see `expireWaiters`). Returns a function that forgets it.
   */
  waitFor(msn: number, part: number, wake: () => void, expire: () => void): () => void {
    const waiter = { msn, part, wake, expire, deadline: this.options.now() + 3 * this.targetDuration * 1000 }
    this.waiters.push(waiter)
    return () => {
      this.waiters = this.waiters.filter((w) => w !== waiter)
    }
  }

  /** Calls `then(true)` once a playlist can be served, or `then(false)` when packaging stops or `timeoutMs` passes first. */
  whenReady(then: (ready: boolean) => void, timeoutMs: number): void {
    if (this.ready) return then(true)
    if (this.stopped) return then(false)
    this.readyWaiters.push({ then, deadline: this.options.now() + timeoutMs })
  }

  /** True while a request waits for the first playlist or for a part (a blocking reload): the packager is in use. */
  get hasWaiters(): boolean {
    return this.readyWaiters.length > 0 || this.waiters.length > 0
  }

  /** Expires the waiters whose deadline has passed: one sweep for all of them, not a timer per request. */
  expireWaiters(): void {
    const now = this.options.now()
    const due = (waiter: { readonly deadline: number }) => waiter.deadline <= now
    if (this.readyWaiters.some(due)) {
      const [expired, waiting] = partition(this.readyWaiters, due)
      this.readyWaiters = waiting
      for (const waiter of expired) waiter.then(false)
    }
    if (this.waiters.some(due)) {
      const [expired, waiting] = partition(this.waiters, due)
      this.waiters = waiting
      for (const waiter of expired) waiter.expire()
    }
  }

  /** The media playlist, as bytes: cached per published part (thousands of blocked reloads get the same Buffer). */
  playlist(query: string, skip: boolean): Buffer {
    const render = () =>
      renderMediaPlaylist(
        {
          sid: this.sid,
          targetDuration: this.targetDuration,
          partTarget: this.partTarget,
          discontinuitySequence: this.discontinuitySequence,
          segments: this.segments,
          open: this.open ?? { msn: this.edge().msn, init: this.initCount, discontinuity: false, parts: [] },
          query
        },
        skip
      )
    const key = `${skip ? "s" : "f"}${query}`
    let bytes = this.playlists.get(key)
    if (bytes === undefined) {
      bytes = Buffer.from(render())
      // Every viewer with its own token is a key of its own: the cache stays small, the rest render per request.
      if (this.playlists.size < MAX_CACHED_PLAYLISTS) this.playlists.set(key, bytes)
    }
    return bytes
  }
}
