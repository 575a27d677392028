/**
 * A small reader for the fragmented MP4 that ffmpeg writes (`-movflags +frag_keyframe+empty_moov+default_base_moof`):
 * the sample entry's configuration box and every sample (bytes, duration, sync). Used to turn ffmpeg's AV1 and
 * HEVC output into E-RTMP test publications, since Debian's ffmpeg 5.1 cannot publish them over RTMP itself.
 */
export interface Mp4Sample {
  readonly data: Buffer
  readonly duration: number
  readonly sync: boolean
  /** Composition time offset (PTS − DTS) in the track's timescale. */
  readonly compositionOffset: number
}

export interface Mp4Track {
  readonly codec: string
  readonly config: Buffer
  readonly timescale: number
  readonly samples: ReadonlyArray<Mp4Sample>
}

const children = (b: Buffer, start: number, end: number): Array<{ type: string; start: number; end: number }> => {
  const out = []
  for (let at = start; at + 8 <= end; ) {
    const size = b.readUInt32BE(at)
    out.push({ type: b.toString("latin1", at + 4, at + 8), start: at + 8, end: at + size })
    if (size < 8) break
    at += size
  }
  return out
}

const find = (b: Buffer, start: number, end: number, path: ReadonlyArray<string>): { start: number; end: number } | undefined => {
  const [head, ...rest] = path
  const box = children(b, start, end).find((c) => c.type === head)
  if (box === undefined) return undefined
  return rest.length === 0 ? box : find(b, box.start, box.end, rest)
}

/** `entryFields`: bytes of the sample entry before its configuration box (78 for video, 28 for audio). */
export const readFragmentedMp4 = (file: Buffer, entryFields = 78): Mp4Track => {
  const stsd = find(file, 0, file.length, ["moov", "trak", "mdia", "minf", "stbl", "stsd"])
  const mdhd = find(file, 0, file.length, ["moov", "trak", "mdia", "mdhd"])
  if (stsd === undefined || mdhd === undefined) throw new Error("no sample description")
  const entryStart = stsd.start + 8 // version/flags, entry count
  const codec = file.toString("latin1", entryStart + 4, entryStart + 8)
  const entryEnd = entryStart + file.readUInt32BE(entryStart)
  const configBox = children(file, entryStart + 8 + entryFields, entryEnd)[0] // after the sample entry's own fields
  if (configBox === undefined) throw new Error("no configuration box")
  const timescale = file.readUInt32BE(mdhd.start + 12)
  const samples: Array<Mp4Sample> = []
  const top = children(file, 0, file.length)
  for (let i = 0; i < top.length; i++) {
    const moof = top[i]
    const mdat = top[i + 1]
    if (moof?.type !== "moof" || mdat?.type !== "mdat") continue
    const tfhd = find(file, moof.start, moof.end, ["traf", "tfhd"])
    const trun = find(file, moof.start, moof.end, ["traf", "trun"])
    if (tfhd === undefined || trun === undefined) continue
    const tfhdFlags = file.readUIntBE(tfhd.start + 1, 3)
    let at = tfhd.start + 8
    if (tfhdFlags & 0x01) at += 8
    if (tfhdFlags & 0x02) at += 4
    const defaultDuration = tfhdFlags & 0x08 ? file.readUInt32BE(at) : 0
    if (tfhdFlags & 0x08) at += 4
    const defaultSize = tfhdFlags & 0x10 ? file.readUInt32BE(at) : 0
    if (tfhdFlags & 0x10) at += 4
    const defaultFlags = tfhdFlags & 0x20 ? file.readUInt32BE(at) : 0
    const flags = file.readUIntBE(trun.start + 1, 3)
    const count = file.readUInt32BE(trun.start + 4)
    let p = trun.start + 8
    const dataOffset = flags & 0x01 ? file.readInt32BE(p) : 0
    if (flags & 0x01) p += 4
    const firstFlags = flags & 0x04 ? file.readUInt32BE(p) : undefined
    if (flags & 0x04) p += 4
    let data = moof.start - 8 + dataOffset
    for (let s = 0; s < count; s++) {
      const duration = flags & 0x100 ? file.readUInt32BE((p += 4) - 4) : defaultDuration
      const size = flags & 0x200 ? file.readUInt32BE((p += 4) - 4) : defaultSize
      const sampleFlags = flags & 0x400 ? file.readUInt32BE((p += 4) - 4) : s === 0 && firstFlags !== undefined ? firstFlags : defaultFlags
      const compositionOffset = flags & 0x800 ? file.readInt32BE((p += 4) - 4) : 0
      samples.push({ data: file.subarray(data, data + size), duration, sync: (sampleFlags & 0x10000) === 0, compositionOffset })
      data += size
    }
  }
  return { codec, config: file.subarray(configBox.start, configBox.end), timescale, samples }
}
