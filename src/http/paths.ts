/**
 * Stream names in URLs, decoded once for every HTTP route (HTTP-FLV, WS-FLV, LL-HLS, pages, API):
 * `/APP…/NAME`, where the app may have several segments (`/live/sub/cam`).
 */

/** Percent-decoded path segments, or undefined when one is empty, a dot segment, holds a NUL, or is malformed. */
export const decodeSegments = (segments: ReadonlyArray<string>): Array<string> | undefined => {
  try {
    const decoded = segments.map(decodeURIComponent)
    return decoded.some((s) => s === "" || s === "." || s === ".." || s.includes("\0")) ? undefined : decoded
  } catch {
    return undefined
  }
}

/** The stream a list of decoded segments names: the last is the name, the rest (at least one) the app. */
export const streamOf = (segments: ReadonlyArray<string> | undefined): { readonly app: string; readonly name: string } | undefined =>
  segments === undefined || segments.length < 2 ? undefined : { app: segments.slice(0, -1).join("/"), name: segments.at(-1) ?? "" }
