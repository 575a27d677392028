/** A valid client byte stream (after the handshake) to mutate: connect, createStream, publish, media. */
import { amfObject } from "../../src/protocol/amf0.js"
import { ClientSession, defaultClientOptions } from "../../src/session/client-session.js"

export const validPublisherStream = (): Buffer => {
  const out: Array<Buffer> = []
  const session = new ClientSession(defaultClientOptions("live", "rtmp://localhost/live"), (b) => out.push(b), () => {})
  session.connect()
  session.createStream()
  session.publish(1, "fuzzed")
  session.sendMetadata(1, amfObject({ width: 640, height: 360, encoder: "fuzz" }))
  session.sendMedia(1, 9, 0, Buffer.from([0x17, 0x00, 0, 0, 0, 1, 0x64, 0, 0x1f]))
  session.sendMedia(1, 8, 0, Buffer.from([0xaf, 0x00, 0x12, 0x10]))
  for (let i = 1; i <= 12; i++) {
    session.sendMedia(1, 9, i * 40, Buffer.alloc(300, i).fill(i % 6 === 1 ? 0x17 : 0x27, 0, 1).fill(1, 1, 2))
    session.sendMedia(1, 8, i * 23, Buffer.from([0xaf, 0x01, i]))
  }
  return Buffer.concat(out)
}

/** Byte-level mutations a fuzzer applies to a valid stream. */
export type Mutation =
  | { readonly kind: "flip"; readonly at: number; readonly value: number }
  | { readonly kind: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "delete"; readonly at: number; readonly length: number }
  | { readonly kind: "truncate"; readonly at: number }

export const mutate = (input: Buffer, mutations: ReadonlyArray<Mutation>): Buffer => {
  let bytes = Buffer.from(input)
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length
    if (m.kind === "flip") bytes[at] = m.value
    else if (m.kind === "insert") bytes = Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)])
    else if (m.kind === "delete") bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)])
    else bytes = bytes.subarray(0, at)
  }
  return bytes
}
