/**
 * LL-HLS playlists (draft-pantos-hls-rfc8216bis), rendered from plain data: no HTTP, no timers. The
 * media playlist carries parts for the newest segments, a preload hint for the next part, blocking
 * reload and delta-update support in SERVER-CONTROL, and PROGRAM-DATE-TIME on every segment.
 */

export interface PartInfo {
  readonly index: number
  readonly duration: number
  readonly independent: boolean
}

export interface SegmentInfo {
  readonly msn: number
  readonly duration: number
  /** Wall-clock time of the segment's first sample (ms since the epoch). */
  readonly programDateTime: number
  readonly parts: ReadonlyArray<PartInfo>
  /** The init segment (EXT-X-MAP) it needs, numbered from 1. */
  readonly init: number
  /** Its decoder configuration differs from the segment before it (EXT-X-DISCONTINUITY). */
  readonly discontinuity: boolean
}

export interface MediaPlaylist {
  /** Per-publish id in every URI, so a republish never meets a stale cache. */
  readonly sid: string
  readonly targetDuration: number
  readonly partTarget: number
  readonly discontinuitySequence: number
  readonly segments: ReadonlyArray<SegmentInfo>
  /** The segment being built: its parts so far. */
  readonly open: { readonly msn: number; readonly init: number; readonly discontinuity: boolean; readonly parts: ReadonlyArray<PartInfo> }
  /** Query string (without `?`) appended to every URI, e.g. a playback token; never `_HLS_*`. */
  readonly query: string
}

const fixed = (seconds: number) => seconds.toFixed(5)

/** The first init segment keeps the plain name; later ones (a new decoder configuration) are numbered. */
export const initUri = (sid: string, index = 1) => (index === 1 ? `${sid}-init.mp4` : `${sid}-init${index}.mp4`)
export const segmentUri = (sid: string, msn: number) => `${sid}-s${msn}.m4s`
export const partUri = (sid: string, msn: number, part: number) => `${sid}-p${msn}.${part}.m4s`

/** PART-HOLD-BACK, in seconds: how far behind the live edge a low-latency player starts (the spec's minimum, 3 parts). */
export const partHoldBack = (partTarget: number): number => 3 * partTarget


export const renderMediaPlaylist = (playlist: MediaPlaylist, skip = false): string => {
  const q = playlist.query === "" ? "" : `?${playlist.query}`
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:10",
    `#EXT-X-TARGETDURATION:${playlist.targetDuration}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${fixed(partHoldBack(playlist.partTarget))},CAN-SKIP-UNTIL=${fixed(6 * playlist.targetDuration)}`,
    `#EXT-X-PART-INF:PART-TARGET=${fixed(playlist.partTarget)}`,
    `#EXT-X-MEDIA-SEQUENCE:${playlist.segments[0]?.msn ?? playlist.open.msn}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${playlist.discontinuitySequence}`
  ]
  // Delta update: segments older than CAN-SKIP-UNTIL from the end are replaced by one EXT-X-SKIP.
  let skipped = 0
  if (skip) {
    let age = 0
    for (let i = playlist.segments.length - 1; i >= 0; i--) {
      age += (playlist.segments[i] as SegmentInfo).duration
      if (age > 6 * playlist.targetDuration) {
        skipped = i + 1
        break
      }
    }
  }
  const mapLine = (init: number) => `#EXT-X-MAP:URI="${initUri(playlist.sid, init)}${q}"`
  const firstInit = playlist.segments[0]?.init ?? playlist.open.init
  if (skipped > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`)
  else lines.push(mapLine(firstInit))
  // A segment needing another init segment than the one before it gets its own EXT-X-MAP.
  let previousInit = playlist.segments[skipped - 1]?.init ?? firstInit
  const boundary = (segment: { readonly init: number; readonly discontinuity: boolean }, first: boolean) => {
    if (segment.discontinuity && !first) lines.push("#EXT-X-DISCONTINUITY")
    if (segment.init !== previousInit) lines.push(mapLine(segment.init))
    previousInit = segment.init
  }
  // Parts are listed only for segments that start within three target durations of the playlist's end
  // (spec §6.2.2: older EXT-X-PART tags must go); their URIs stay valid until the segment is evicted.
  let fromEnd = playlist.open.parts.reduce((sum, p) => sum + p.duration, 0)
  const startsFromEnd = playlist.segments.map(() => 0)
  for (let i = playlist.segments.length - 1; i >= 0; i--) {
    fromEnd += (playlist.segments[i] as SegmentInfo).duration
    startsFromEnd[i] = fromEnd
  }
  playlist.segments.forEach((segment, i) => {
    if (i < skipped) return
    boundary(segment, i === 0)
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(segment.programDateTime).toISOString()}`)
    // …and for no more than the last two complete segments (short ones after an on-demand start would add more).
    const recent = (startsFromEnd[i] ?? Infinity) <= 3 * playlist.targetDuration + 1e-6 && i >= playlist.segments.length - 2
    if (recent) for (const part of segment.parts) lines.push(partLine(playlist.sid, segment.msn, part, q))
    lines.push(`#EXTINF:${fixed(segment.duration)},`, `${segmentUri(playlist.sid, segment.msn)}${q}`)
  })
  const open = playlist.open
  if (open.parts.length > 0) boundary(open, playlist.segments.length === 0)
  for (const part of open.parts) lines.push(partLine(playlist.sid, open.msn, part, q))
  // The first part of a segment with a new init segment is not hinted before the playlist can name that init.
  if (open.parts.length === 0 && open.init !== previousInit) return lines.join("\n") + "\n"
  lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${partUri(playlist.sid, playlist.open.msn, playlist.open.parts.length)}${q}"`)
  return lines.join("\n") + "\n"
}

const partLine = (sid: string, msn: number, part: PartInfo, q: string) =>
  `#EXT-X-PART:DURATION=${fixed(part.duration)},URI="${partUri(sid, msn, part.index)}${q}"${part.independent ? ",INDEPENDENT=YES" : ""}`

export interface VariantInfo {
  readonly codecs: string
  readonly bandwidth: number
  readonly width: number
  readonly height: number
  readonly frameRate: number | undefined
  /** The media playlist's URI relative to the multivariant playlist. */
  readonly uri: string
}

export const renderMultivariantPlaylist = (variant: VariantInfo): string => {
  const attributes = [`BANDWIDTH=${Math.max(1, Math.round(variant.bandwidth))}`, `CODECS="${variant.codecs}"`]
  if (variant.width > 0 && variant.height > 0) attributes.push(`RESOLUTION=${variant.width}x${variant.height}`)
  if (variant.frameRate !== undefined) attributes.push(`FRAME-RATE=${variant.frameRate.toFixed(3)}`)
  return ["#EXTM3U", "#EXT-X-VERSION:10", "#EXT-X-INDEPENDENT-SEGMENTS", `#EXT-X-STREAM-INF:${attributes.join(",")}`, variant.uri, ""].join("\n")
}
