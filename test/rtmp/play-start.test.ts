/**
 * Everything a player receives before its first media message, pinned: what it is, in which order, at
 * which timestamp. libavformat (ffmpeg, ffprobe, mpv, VLC) opens a phantom data stream for script data
 * with a name it does not know and a subtitle stream for `onMetaData` at a non-zero timestamp, so both
 * are part of the contract. A metadata change mid-stream reaches current players, also at timestamp 0.
 */
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { amfObject, AmfObject } from "../../src/protocol/amf0.js"
import type { ClientEvent } from "../../src/session/client-session.js"
import { connectClient, isMedia, openStream, publishAs } from "../support/client.js"
import { startServer } from "../support/server.js"

const VIDEO_HEADER = Buffer.from([0x17, 0x00, 0, 0, 0, 1, 0x64, 0x00, 0x1f])
const AUDIO_HEADER = Buffer.from([0xaf, 0x00, 0x12, 0x10])

/** One line per event, with the fields that matter to a player. */
const describeEvent = (e: ClientEvent): string => {
  switch (e._tag) {
    case "UserControl":
      return `UserControl ${e.control.event}`
    case "Status":
      return `Status ${e.code}`
    case "Data": {
      const [name, value] = e.values
      const fields = value instanceof AmfObject ? ` {${[...value.properties.keys()].join(",")}}` : ` ${e.values.slice(1).join(",")}`
      return `Data@${e.timestamp} ${String(name)}${fields}`
    }
    case "Media":
      return `Media@${e.message.timestamp} type ${e.message.typeId} ${Buffer.from(e.message.payload.subarray(0, 2)).toString("hex")}`
    default:
      return e._tag
  }
}

it.scopedLive("a player's start-up sequence: statuses, |RtmpSampleAccess and metadata at 0, headers at the keyframe's time", () =>
  Effect.gen(function* () {
    const { port } = yield* startServer()
    yield* Effect.promise(async () => {
      const { client: publisher, streamId } = await publishAs(port, "pinned")
      // The encoder's clock is far from 0 (a reconnect, a relay): metadata still goes to players at 0.
      publisher.session.sendMedia(streamId, 9, 5000, VIDEO_HEADER)
      publisher.session.sendMedia(streamId, 8, 5000, AUDIO_HEADER)
      publisher.session.sendMetadata(streamId, amfObject({ width: 320, height: 240, encoder: "test" })) // as @setDataFrame
      publisher.session.sendMedia(streamId, 9, 5040, Buffer.from([0x17, 0x01, 0, 0, 0, 9]))
      publisher.session.sendMedia(streamId, 8, 5041, Buffer.from([0xaf, 0x01, 7]))

      const player = await connectClient(port)
      const id = await openStream(player)
      const from = player.events.length
      player.session.play(id, "pinned")
      await player.waitFor((e) => isMedia(e) && e.message.typeId === 8 && e.message.payload[1] === 1)
      expect(player.events.slice(from).map(describeEvent)).toEqual([
        "UserControl 0",
        "Status NetStream.Play.Reset",
        "Status NetStream.Play.Start",
        "Data@0 |RtmpSampleAccess true,true",
        "Data@0 onMetaData {width,height,encoder}",
        "Media@5040 type 9 1700",
        "Media@5040 type 8 af00",
        "Media@5040 type 9 1701",
        "Media@5041 type 8 af01"
      ])

      const before = player.events.length
      publisher.session.sendMetadata(streamId, amfObject({ width: 640, height: 480, encoder: "test" }))
      const update = await player.waitFor((e) => e._tag === "Data" && e.values[0] === "onMetaData", 5000, before)
      expect(describeEvent(update)).toBe("Data@0 onMetaData {width,height,encoder}")
      expect(update._tag === "Data" && (update.values[1] as AmfObject).properties.get("width")).toBe(640)
      publisher.close()
      player.close()
    })
  }))
