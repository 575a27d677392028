/** A minimal FLV file reader for checking what rtmpdump wrote. */
import { decodeAll } from "../../src/protocol/amf0.js"

export interface FlvTag {
  readonly type: number
  readonly timestamp: number
  readonly data: Buffer
}

export const readFlv = (file: Buffer): Array<FlvTag> => {
  if (file.subarray(0, 3).toString("latin1") !== "FLV") throw new Error("not an FLV file")
  const tags: Array<FlvTag> = []
  let at = file.readUInt32BE(5) + 4
  while (at + 11 <= file.length) {
    const type = file[at] as number
    const size = file.readUIntBE(at + 1, 3)
    const timestamp = (file.readUIntBE(at + 4, 3) | ((file[at + 7] as number) << 24)) >>> 0
    if (at + 11 + size > file.length) break
    tags.push({ type, timestamp, data: file.subarray(at + 11, at + 11 + size) })
    at += 11 + size + 4
  }
  return tags
}

export const scriptName = (tag: FlvTag): unknown => (tag.type === 18 ? decodeAll(tag.data)[0] : undefined)
