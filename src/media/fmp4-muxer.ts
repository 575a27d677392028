/**
 * Live frames in, fragmented MP4 out: the one fMP4 muxer behind LL-HLS parts and recordings. Plain code,
 * no I/O: `push` takes a stream's frames (decoder configurations included), `flush` returns a fragment
 * with every sample whose duration is known. A sample's duration is the next sample's decode time minus
 * its own, so each track holds back one sample until the next arrives.
 *
 * Times: video in 90 kHz (FLV ms × 90, composition offsets from the tag's signed CTS); AAC counted in
 * 1024-sample frames from the first timestamp (FLV's millisecond stamps jitter), re-anchored when they
 * drift more than two frames apart; Opus from the timestamps at 48 kHz. 32-bit FLV times are unwrapped.
 */
import { fragment, initSegment, type Sample, type TrackRun, type TrackSetup } from "../protocol/fmp4.js"
import { type AudioConfig, audioConfig, audioFrame, type VideoConfig, videoConfig, videoFrame } from "./codecs.js"
import { type MediaFrame, sameConfig, TagType } from "./frame.js"

interface Pending {
  readonly dts: number
  readonly data: Uint8Array
  readonly sync: boolean
  readonly compositionOffset: number
}

class TrackQueue {
  readonly samples: Array<Pending> = []
  /** Decode time of the first sample not yet written. */
  get firstDts(): number | undefined {
    return this.samples[0]?.dts
  }
  /** Everything but the last sample (whose duration is not known yet), with durations. */
  take(): TrackRun | undefined {
    if (this.samples.length < 2) return undefined
    const ready = this.samples.splice(0, this.samples.length - 1)
    const next = this.samples[0] as Pending
    const samples: Array<Sample> = ready.map((s, i) => ({
      duration: Math.max(0, ((ready[i + 1] ?? next).dts - s.dts) | 0),
      data: s.data,
      sync: s.sync,
      compositionOffset: s.compositionOffset
    }))
    return { id: 0, baseDecodeTime: (ready[0] as Pending).dts, samples }
  }
}

export class Fmp4Muxer {
  video: VideoConfig | undefined = undefined
  audio: AudioConfig | undefined = undefined
  private readonly videoQueue = new TrackQueue()
  private readonly audioQueue = new TrackQueue()
  private sequence = 0
  private lastRaw = -1
  private wraps = 0
  private aacNext: number | undefined = undefined
  /** Bumped whenever a decoder configuration changes: a new init segment is needed. */
  configVersion = 0
  /** The configuration records last taken: the same record again (a takeover by a like encoder) changes nothing. */
  private videoRecord: Uint8Array | undefined = undefined
  private audioRecord: Uint8Array | undefined = undefined

  /**
   * `sizeHint` gives the picture size for codecs whose configuration record does not carry it (HEVC, AV1):
   * usually the stream's onMetaData, read when the configuration arrives (metadata may come after publish).
   */
  constructor(private readonly sizeHint: () => { width?: number; height?: number } = () => ({})) {}

  /** Milliseconds on a 64-bit timeline. */
  private unwrap(raw: number): number {
    if (this.lastRaw >= 0 && raw < this.lastRaw && this.lastRaw - raw > 0x80000000) this.wraps++
    this.lastRaw = raw
    return raw + this.wraps * 0x100000000
  }

  /** Takes one frame of the stream; false when it is of a codec this muxer does not package. */
  push(frame: MediaFrame): boolean {
    if (frame.typeId === TagType.Video) {
      if (frame.sequenceHeader) {
        if (sameConfig(this.videoRecord, frame)) return true
        const config = videoConfig(frame.payload, this.sizeHint())
        if (config === undefined) return false
        this.video = config
        this.videoRecord = frame.payload
        this.configVersion++
        return true
      }
      if (this.video === undefined) return false
      const coded = videoFrame(frame.payload)
      if (coded === undefined) return true
      const ms = this.unwrap(frame.timestamp)
      this.videoQueue.samples.push({ dts: ms * 90, data: coded.data, sync: frame.keyframe, compositionOffset: coded.compositionTime * 90 })
      return true
    }
    if (frame.typeId === TagType.Audio) {
      if (frame.sequenceHeader) {
        if (sameConfig(this.audioRecord, frame)) return true
        const config = audioConfig(frame.payload)
        if (config === undefined) return false
        this.audio = config
        this.audioRecord = frame.payload
        this.aacNext = undefined
        this.configVersion++
        return true
      }
      if (this.audio === undefined) return false
      const coded = audioFrame(frame.payload)
      if (coded === undefined) return true
      const ms = this.unwrap(frame.timestamp)
      const rate = this.audio.sampleRate
      const fromClock = Math.round((ms * rate) / 1000)
      let dts = fromClock
      if (this.audio.codec === "mp4a") {
        dts = this.aacNext !== undefined && Math.abs(this.aacNext - fromClock) <= 2048 ? this.aacNext : fromClock
        this.aacNext = dts + 1024
      }
      this.audioQueue.samples.push({ dts, data: coded.data, sync: true, compositionOffset: 0 })
      return true
    }
    return true
  }

  /** The tracks an init segment describes: those with a decoder configuration. */
  tracks(): ReadonlyArray<TrackSetup> {
    return [this.video?.setup, this.audio?.setup].filter((t): t is TrackSetup => t !== undefined)
  }

  init(): Uint8Array | undefined {
    const tracks = this.tracks()
    return tracks.length === 0 ? undefined : initSegment(tracks)
  }

  /** RFC 6381 CODECS of the tracks, for playlists. */
  codecs(): string {
    return [this.video?.codecs, this.audio?.codecs].filter((c) => c !== undefined).join(",")
  }

  /** Decode time (in seconds) of the oldest sample not yet written, of the leading track. */
  pendingStart(): number | undefined {
    if (this.video !== undefined) return this.videoQueue.firstDts === undefined ? undefined : this.videoQueue.firstDts / 90000
    return this.audio === undefined || this.audioQueue.firstDts === undefined ? undefined : this.audioQueue.firstDts / this.audio.sampleRate
  }

  /** A fragment with every sample whose duration is known, or undefined when there is none. */
  flush(): Uint8Array | undefined {
    const runs: Array<TrackRun> = []
    const video = this.video === undefined ? undefined : this.videoQueue.take()
    if (video !== undefined) runs.push({ ...video, id: 1 })
    const audio = this.audio === undefined ? undefined : this.audioQueue.take()
    if (audio !== undefined) runs.push({ ...audio, id: 2 })
    if (runs.length === 0) return undefined
    return fragment(++this.sequence, runs)
  }
}
