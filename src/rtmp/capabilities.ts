/**
 * E-RTMP connect-time negotiation (enhanced-rtmp-v2 §"Enhancing NetConnection connect Command"): what a
 * client declares in its connect command object (`fourCcList`, `videoFourCcInfoMap`/`audioFourCcInfoMap`,
 * `capsEx`) and what we answer in `_result`. A client that declares nothing is legacy: it gets legacy
 * FLV bytes only (ffmpeg 5.1, librtmp, OBS's own librtmp — which sends no fourCcList).
 */
import { AmfObject, type AmfValue, amfObject } from "../protocol/amf0.js"
import { CapsEx, FourCcInfo } from "../protocol/ertmp.js"
import { TrackFilter } from "../media/tracks.js"

export const VIDEO_FOURCCS = ["avc1", "hvc1", "av01", "vp09", "vp08", "vvc1"] as const
export const AUDIO_FOURCCS = ["mp4a", ".mp3", "Opus", "fLaC", "ac-3", "ec-3"] as const

export interface PeerCapabilities {
  /** The client sent any E-RTMP key at all. */
  readonly enhanced: boolean
  readonly capsEx: number
  /** What it may be sent when it plays. */
  readonly filter: TrackFilter
}

export const LEGACY_PEER: PeerCapabilities = { enhanced: false, capsEx: 0, filter: TrackFilter.legacy }

const ACCEPTING = FourCcInfo.CanDecode | FourCcInfo.CanForward

/** `{fourcc: flags}` → the FourCCs it can take, or "*" (a `*` key with decode/forward overrides the rest). */
const fromInfoMap = (value: AmfValue): ReadonlySet<string> | "*" | undefined => {
  if (!(value instanceof AmfObject)) return undefined
  const accepted = new Set<string>()
  for (const [fourCc, flags] of value.properties) {
    if (typeof flags !== "number" || (flags & ACCEPTING) === 0) continue
    if (fourCc === "*") return "*"
    accepted.add(fourCc)
  }
  return accepted
}

const fromList = (value: AmfValue, known: ReadonlyArray<string>): ReadonlySet<string> | "*" | undefined => {
  if (!Array.isArray(value)) return undefined
  const names = (value as ReadonlyArray<AmfValue>).filter((v): v is string => typeof v === "string")
  if (names.includes("*")) return "*"
  return new Set(names.filter((n) => known.includes(n) || !([...VIDEO_FOURCCS, ...AUDIO_FOURCCS] as ReadonlyArray<string>).includes(n)))
}

/** Reads a connect command object. Clients SHOULD prefer the info maps; we accept both forms. */
export const readPeerCapabilities = (commandObject: AmfValue): PeerCapabilities => {
  if (!(commandObject instanceof AmfObject)) return LEGACY_PEER
  const list = commandObject.get("fourCcList")
  const videoMap = commandObject.get("videoFourCcInfoMap")
  const audioMap = commandObject.get("audioFourCcInfoMap")
  const capsExValue = commandObject.get("capsEx")
  const capsEx = typeof capsExValue === "number" ? capsExValue : 0
  const video = fromInfoMap(videoMap) ?? fromList(list, VIDEO_FOURCCS)
  const audio = fromInfoMap(audioMap) ?? fromList(list, AUDIO_FOURCCS)
  const enhanced = video !== undefined || audio !== undefined || typeof capsExValue === "number"
  if (!enhanced) return LEGACY_PEER
  return { enhanced, capsEx, filter: new TrackFilter(video ?? new Set(), audio ?? new Set(), (capsEx & CapsEx.Multitrack) !== 0) }
}

/** What we support, said in connect's `_result` properties: we forward every codec, ModEx and multitrack. */
export const SERVER_CAPS_EX = CapsEx.Reconnect | CapsEx.Multitrack | CapsEx.ModEx | CapsEx.TimestampNanoOffset

export const serverCapabilities = (): ReadonlyArray<readonly [string, AmfValue]> => [
  ["capsEx", SERVER_CAPS_EX],
  ["videoFourCcInfoMap", amfObject({ "*": FourCcInfo.CanForward })],
  ["audioFourCcInfoMap", amfObject({ "*": FourCcInfo.CanForward })]
]

/** What our relay client declares when it plays (pulls) from another server: it forwards everything. */
export const clientCapabilities = (): ReadonlyArray<readonly [string, AmfValue]> => [
  ["fourCcList", [...VIDEO_FOURCCS, ...AUDIO_FOURCCS]],
  ["videoFourCcInfoMap", amfObject({ "*": FourCcInfo.CanForward })],
  ["audioFourCcInfoMap", amfObject({ "*": FourCcInfo.CanForward })],
  ["capsEx", CapsEx.Reconnect | CapsEx.Multitrack | CapsEx.ModEx | CapsEx.TimestampNanoOffset]
]

/** For the log: `capsEx 0x6, video hvc1,av01, audio *`. */
export const describePeer = (peer: PeerCapabilities): string => {
  const list = (set: ReadonlySet<string> | "*") => (set === "*" ? "*" : [...set].join(",") || "none")
  return `capsEx 0x${peer.capsEx.toString(16)}, video ${list(peer.filter.video)}, audio ${list(peer.filter.audio)}`
}
