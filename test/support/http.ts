/** HTTP test helpers: read a (possibly endless) response for a while; check an FLV body's start. */
import { expect } from "@effect/vitest"
import * as http from "node:http"
import { type FlvTag, readFlv, scriptName } from "./flv.js"

/** Reads an HTTP response for `ms` or until it ends; its status, headers and body. */
export const httpGet = (url: string, ms: number, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    const request = http.get(url, { headers }, (response) => {
      response.on("data", (c: Buffer) => chunks.push(c))
      const done = () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) })
      response.on("end", done)
      response.on("close", done)
      setTimeout(() => {
        request.destroy()
        done()
      }, ms)
    })
    request.on("error", (e) => (chunks.length > 0 ? undefined : reject(e)))
  })

/** What every FLV body must start with: header, onMetaData, decoder configuration, a keyframe. */
export const expectPlayableFlv = (body: Buffer) => {
  expect(body.subarray(0, 3).toString("latin1")).toBe("FLV")
  const tags = readFlv(body)
  expect(scriptName(tags[0] as FlvTag)).toBe("onMetaData")
  const video = tags.filter((t) => t.type === 9)
  expect(video[0]?.data.subarray(0, 2)).toEqual(Buffer.from([0x17, 0x00])) // sequence header first
  expect(video[1]?.data[0]).toBe(0x17) // then a keyframe
  return tags
}
