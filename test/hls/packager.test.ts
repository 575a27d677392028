/**
 * The LL-HLS packager and playlists on a synthetic 25 fps stream (1 s GOP, AAC), checked with an
 * independent playlist parser (hls-parser, strict mode) and the spec's rules: TARGETDURATION constant,
 * parts ≥ 85 % of PART-TARGET (but a segment's last), EXTINF ≤ TARGETDURATION, media sequence numbers
 * monotonic, bounded memory, delta updates, and blocking-reload bookkeeping.
 */
import { describe, expect, it } from "@effect/vitest"
import HLS from "hls-parser"
import { HlsPackager } from "../../src/hls/packager.js"
import { LiveStream } from "../../src/media/stream.js"
import { hex } from "../support/hex.js"

const AVC_HEADER = Buffer.concat([hex("17 00 00 00 00"), hex("01 64 00 0d ff e1 00 19 67 64 00 0d ac d9 41 41 fb 01 10 00 00 03 00 10 00 00 03 03 20 f1 42 99 60 01 00 06 68 eb e3 cb 22 c0")])
/** The same SPS with another PPS: another decoder configuration record. */
const AVC_HEADER_2 = Buffer.concat([AVC_HEADER.subarray(0, -1), hex("c8")])
const AAC_HEADER = hex("af 00 12 10")

const setup = (segmentCount = 7) => {
  const stream = new LiveStream("live", "hls", { enabled: true, maxFrames: 1000, maxBytes: 1 << 22 })
  stream.startPublishing({ connectionId: "p" })
  stream.publishMedia(9, 0, AVC_HEADER)
  stream.publishMedia(8, 0, AAC_HEADER)
  let clock = 1_700_000_000_000
  const packager = new HlsPackager(stream, { partDuration: 0.2, minSegmentDuration: 2, segmentCount, firstMsn: 0, discontinuitySequence: 0, now: () => clock })
  packager.seed()
  stream.players.add(packager)
  let n = 0
  /** `seconds` more of media: video every 40 ms (keyframe each second), AAC every ~23 ms. */
  const play = (seconds: number) => {
    const end = n + seconds * 25
    for (; n < end; n++) {
      const t = n * 40
      const frame = Buffer.alloc(300, n & 0xff)
      frame[0] = n % 25 === 0 ? 0x17 : 0x27
      frame[1] = 1
      stream.publishMedia(9, t, frame)
      stream.publishMedia(8, Math.round(t + 0), Buffer.from([0xaf, 0x01, 1, 2, 3]))
      stream.publishMedia(8, Math.round(t + 23), Buffer.from([0xaf, 0x01, 4, 5, 6]))
      clock += 40
    }
  }
  /** A decoder configuration published now, between frames (as a takeover by another encoder does). */
  const header = (bytes: Buffer) => stream.publishMedia(9, n * 40, bytes)
  return { stream, packager, play, header, advance: (ms: number) => void (clock += ms), now: () => clock }
}

const parse = (text: string) => {
  HLS.setOptions({ strictMode: true })
  const playlist = HLS.parse(text) as HLS.types.MediaPlaylist
  // hls-parser models the open segment's parts as a last segment without a URI.
  return {
    playlist,
    complete: playlist.segments.filter((s) => s.uri !== undefined && s.uri !== ""),
    open: playlist.segments.find((s) => s.uri === undefined || s.uri === "")
  }
}

describe("LL-HLS packager and playlists", () => {
  it("parts, segments and the playlist follow the spec's rules", () => {
    const { packager, play } = setup()
    play(1)
    expect(packager.ready).toBe(false) // no complete segment yet: no playlist
    play(16) // 17 s: eight complete segments, the oldest evicted
    expect(packager.ready).toBe(true)
    const text = packager.playlist("", false).toString()
    const { playlist, complete } = parse(text)
    expect(playlist.targetDuration).toBe(2)
    expect(playlist.partTargetDuration).toBeCloseTo(0.2, 5)
    expect(text).toContain("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000,CAN-SKIP-UNTIL=12.00000")
    expect(complete.length).toBe(7) // complete segments kept (older ones evicted) …
    expect(text).toMatch(/#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+-p\d+\.\d+\.m4s"/)
    const numbers = complete.map((s) => s.mediaSequenceNumber)
    expect(numbers).toEqual(numbers.map((_, i) => (numbers[0] as number) + i))
    for (const segment of complete) {
      expect(Math.round(segment.duration)).toBeLessThanOrEqual(playlist.targetDuration)
      expect(segment.programDateTime).toBeInstanceOf(Date)
      const parts = segment.parts ?? []
      parts.forEach((part, i) => {
        expect(part.duration).toBeLessThanOrEqual(0.2 + 1e-9)
        if (i < parts.length - 1) expect(part.duration).toBeGreaterThanOrEqual(0.85 * 0.2)
      })
      if (parts.length > 0) expect(parts[0]?.independent).toBe(true)
    }
    // … and an evicted segment is gone for good.
    expect(packager.segment(0)).toBeUndefined()
    expect(packager.segment(numbers.at(-1) as number)?.length).toBeGreaterThan(5) // its parts
  })

  it("TARGETDURATION and PART-TARGET never change, whatever comes later", () => {
    const { packager, play } = setup()
    play(5)
    const first = parse(packager.playlist("", false).toString()).playlist
    play(20)
    const later = parse(packager.playlist("", false).toString()).playlist
    expect([later.targetDuration, later.partTargetDuration]).toEqual([first.targetDuration, first.partTargetDuration])
  })

  it("delta updates skip segments older than CAN-SKIP-UNTIL", () => {
    const { packager, play } = setup(20)
    play(40)
    const full = parse(packager.playlist("", false).toString())
    const delta = packager.playlist("", true).toString()
    const skipped = Number(/#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)/.exec(delta)?.[1])
    expect(skipped).toBeGreaterThan(0)
    const remaining = full.complete.slice(skipped)
    expect(remaining.reduce((sum, s) => sum + s.duration, 0)).toBeLessThanOrEqual(12 + 2) // what is left starts within CAN-SKIP-UNTIL
    expect(delta).not.toContain("#EXT-X-MAP")
  })

  it("blocking reload: a waiter wakes when its part is published; a part past a segment's end is the next segment's first", () => {
    const { packager, play } = setup()
    play(6)
    const edge = packager.edge()
    let woken = 0
    packager.waitFor(edge.msn, edge.part, () => woken++, () => expect.fail("expired"))
    expect(woken).toBe(0)
    play(1)
    expect(woken).toBe(1)
    const complete = packager.edge().msn - 1
    expect(packager.hasPart(complete, 99)).toBe(true) // beyond its last part: the next segment has started
  })

  it("a new decoder configuration starts a segment with a discontinuity and its own init segment; the same one again changes nothing", () => {
    const { packager, play, header } = setup()
    play(6)
    header(AVC_HEADER) // the same record again (a like encoder took over): no new init
    play(2)
    expect(packager.playlist("", false).toString()).not.toContain("#EXT-X-DISCONTINUITY\n")
    header(AVC_HEADER_2)
    play(4)
    const text = packager.playlist("", false).toString()
    const { playlist, complete } = parse(text)
    const changed = complete.findIndex((s) => s.discontinuity)
    expect(changed).toBeGreaterThan(0)
    expect(complete.filter((s) => s.discontinuity).length).toBe(1)
    const sid = packager.sid
    expect(complete[0]?.map?.uri).toBe(`${sid}-init.mp4`)
    expect(complete[changed]?.map?.uri).toBe(`${sid}-init2.mp4`)
    expect(complete.at(-1)?.map?.uri).toBe(`${sid}-init2.mp4`)
    expect(playlist.discontinuitySequenceBase ?? 0).toBe(0)
    // Both init segments are served while a listed segment needs them, and they differ.
    expect(Buffer.compare(packager.initSegment(1) ?? Buffer.alloc(0), packager.initSegment(2) ?? Buffer.alloc(0))).not.toBe(0)
    play(16) // the old segments are evicted: so is their init, and the discontinuity sequence counts the change
    const later = parse(packager.playlist("", false).toString())
    expect(later.complete.every((s) => !s.discontinuity)).toBe(true)
    expect(later.playlist.discontinuitySequenceBase).toBe(1)
    expect(later.complete[0]?.map?.uri).toBe(`${sid}-init2.mp4`)
    expect(packager.initSegment(1)).toBeUndefined()
    expect(packager.lastDiscontinuitySequence()).toBe(1)
  })

  it("started on demand mid-GOP: the first segment is the cached GOP up to the next keyframe, however short; ready once PART-HOLD-BACK of live parts follow it", () => {
    const { stream, play, now } = setup()
    play(3.52) // keyframes every second: the cache holds the last 0.52 s
    const late = new HlsPackager(stream, {
      partDuration: 0.2,
      minSegmentDuration: 2,
      segmentCount: 7,
      firstMsn: 0,
      discontinuitySequence: 0,
      now,
      quickStart: true,
      keyframeInterval: () => stream.keyframeInterval
    })
    late.seed()
    stream.players.add(late)
    const events: Array<boolean> = []
    late.whenReady((ready) => events.push(ready), 6000)
    expect(late.ready).toBe(false)
    play(0.52) // the next keyframe comes: the seeded segment is complete…
    expect(late.ready).toBe(false) // …but a player starting PART-HOLD-BACK (0.6 s) behind the edge would start in it
    expect(events).toEqual([])
    const keyframeAt = now()
    play(0.6)
    expect(late.ready).toBe(true) // three live parts: the edge less PART-HOLD-BACK is the live keyframe
    expect(events).toEqual([true])
    const first = parse(late.playlist("", false).toString())
    expect(first.playlist.targetDuration).toBe(2)
    expect(first.complete).toHaveLength(1)
    expect(first.complete[0]?.duration).toBeCloseTo(1, 2) // from the cached keyframe to the next
    expect(first.complete[0]?.parts?.[0]?.independent).toBe(true)
    // Its wall-clock time is when its first frame (the cached keyframe, 1 s ago) came in, within a frame.
    expect(Math.abs((first.complete[0]?.programDateTime?.getTime() ?? 0) - (keyframeAt - 1000))).toBeLessThanOrEqual(40)
    expect(first.open?.parts?.[0]?.independent).toBe(true) // the live keyframe first
    expect((first.open?.parts ?? []).reduce((sum, p) => sum + (p.hint ? 0 : (p.duration ?? 0)), 0)).toBeGreaterThanOrEqual(0.6 - 1e-9) // PART-HOLD-BACK
    play(4)
    const later = parse(late.playlist("", false).toString())
    for (const segment of later.complete.slice(1)) expect(segment.duration).toBeCloseTo(2, 2)
    for (const segment of later.complete) expect(segment.parts?.[0]?.independent ?? true).toBe(true)
  })

  it("a request before the first playlist waits for it, and is let go when packaging stops first", () => {
    const { stream, now } = setup()
    const packager = new HlsPackager(stream, { partDuration: 0.2, minSegmentDuration: 2, segmentCount: 7, firstMsn: 0, discontinuitySequence: 0, now })
    const events: Array<boolean> = []
    packager.whenReady((ready) => events.push(ready), 6000)
    packager.stop()
    expect(events).toEqual([false])
  })

  it("a waiter whose part does not come expires at three target durations, in the sweep", () => {
    const { packager, play, advance } = setup()
    play(6)
    const edge = packager.edge()
    const events: Array<string> = []
    packager.waitFor(edge.msn, edge.part + 1, () => events.push("woken"), () => events.push("expired"))
    advance(3 * packager.targetDuration * 1000 - 1)
    packager.expireWaiters()
    expect(events).toEqual([])
    advance(1)
    packager.expireWaiters()
    expect(events).toEqual(["expired"])
    play(1) // published later: the expired waiter is gone
    expect(events).toEqual(["expired"])
  })

  it("the playlist carries the client's query (a token) on every URI, never _HLS_ parameters", () => {
    const { packager, play } = setup()
    play(5)
    const text = packager.playlist("token=abc&expires=9", false).toString()
    for (const line of text.split("\n").filter((l) => l.includes(".m4s") || l.includes(".mp4"))) expect(line).toContain("?token=abc&expires=9")
  })
})
