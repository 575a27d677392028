import { describe, expect, it } from "@effect/vitest"
import { parsePullSpec, parsePushSpec } from "../../src/cli/relay-options.js"
import { normalizeArgv } from "../../src/cli/options.js"
import { format, fromParts, parseLocalStream, parseRtmpUrl, redact, RtmpUrlError, tcUrl } from "../../src/relay/url.js"

describe("RTMP URLs", () => {
  it("parses DNS names, default and explicit ports, nested apps, and keeps the query", () => {
    expect(parseRtmpUrl("rtmp://a.rtmp.youtube.com/live2/abcd-efgh?backup=1")).toEqual({
      secure: false,
      host: "a.rtmp.youtube.com",
      port: 1935,
      app: "live2",
      stream: "abcd-efgh?backup=1"
    })
    expect(parseRtmpUrl("rtmp://localhost:19350/app/sub/name")).toEqual({ secure: false, host: "localhost", port: 19350, app: "app/sub", stream: "name" })
    expect(parseRtmpUrl("rtmp://[::1]:1936/live/x")).toMatchObject({ host: "::1", port: 1936 })
  })

  it("rtmps:// defaults to port 443 and keeps its scheme in tcUrl; the fragment carries relay options, never the wire", () => {
    const url = parseRtmpUrl("rtmps://a.rtmps.youtube.com/live2/key-1?x=1#codecs=h264, aac&fingerprint=AB:" + "cd:".repeat(30) + "ef")
    expect(url).toEqual({
      secure: true,
      host: "a.rtmps.youtube.com",
      port: 443,
      app: "live2",
      stream: "key-1?x=1",
      codecs: ["h264", "aac"],
      fingerprint: "ab" + "cd".repeat(30) + "ef"
    })
    expect(tcUrl(url)).toBe("rtmps://a.rtmps.youtube.com:443/live2")
    expect(parseRtmpUrl("RTMPS://h:1936/live/x")).toMatchObject({ secure: true, port: 1936 })
    expect(() => parseRtmpUrl("rtmps://h/live/x#fingerprint=abc")).toThrow(/SHA-256/)
    expect(() => parseRtmpUrl("rtmps://h/live/x#colour=blue")).toThrow(/unknown URL option/)
  })

  it("formats tcUrl and redacts the stream key", () => {
    const url = parseRtmpUrl("rtmp://host:1940/live/secret?key=123")
    expect(tcUrl(url)).toBe("rtmp://host:1940/live")
    expect(format(url)).toBe("rtmp://host:1940/live/secret?key=123")
    expect(redact(url)).toBe("rtmp://host:1940/live/***")
    expect(redact(parseRtmpUrl("rtmp://[::1]/live/k"))).toBe("rtmp://[::1]:1935/live/***")
  })

  it("refuses what is not an rtmp://host/app/stream URL", () => {
    for (const bad of ["http://x/live/s", "rtmp://host/live", "rtmp://host/live/", "rtmp:///live/s", "rtmp://host:99999/live/s", "rtmp://host/"]) {
      expect(() => parseRtmpUrl(bad)).toThrow(RtmpUrlError)
    }
  })

  it("maps the seed's -h ip[:port] -a app -s stream onto the same type", () => {
    expect(fromParts("10.0.0.1", "live", "cam")).toEqual({ secure: false, host: "10.0.0.1", port: 1935, app: "live", stream: "cam" })
    expect(fromParts("example.org:1940", "live", "cam").port).toBe(1940)
    expect(() => fromParts("host", "", "cam")).toThrow(RtmpUrlError)
  })

  it("parses --pull URL=APP/STREAM (the URL may contain '=') and --push APP/STREAM=URL", () => {
    expect(parsePullSpec("rtmp://h/live/k?token=a=b=local/pulled")).toMatchObject({ app: "local", name: "pulled", remote: { stream: "k?token=a=b" } })
    expect(parsePushSpec("live/cam=rtmp://h/app/key?x=1")).toMatchObject({ app: "live", name: "cam", remote: { app: "app", stream: "key?x=1" } })
    expect(parseLocalStream("a/b/c")).toEqual({ app: "a/b", name: "c" })
    expect(() => parsePullSpec("rtmp://h/live/k")).toThrow()
  })

  it("rewrites the seed's -h after pull/push, and a bare --log-io", () => {
    expect(normalizeArgv(["node", "bin", "pull", "-a", "live", "-h", "10.0.0.1:1935", "-s", "s", "-t", "t"])).toEqual([
      "node", "bin", "pull", "-a", "live", "--remote-host", "10.0.0.1:1935", "-s", "s", "-t", "t"
    ])
    expect(normalizeArgv(["node", "bin", "serve", "-h"])).toEqual(["node", "bin", "serve", "-h"])
    expect(normalizeArgv(["node", "bin", "--log-io", "serve"])).toEqual(["node", "bin", "--log-io", "logs", "serve"])
    expect(normalizeArgv(["node", "bin", "-l"])).toEqual(["node", "bin", "-l", "logs"])
    expect(normalizeArgv(["node", "bin", "--log-io", "/tmp/x"])).toEqual(["node", "bin", "--log-io", "/tmp/x"])
    expect(normalizeArgv(["node", "bin", "serve", "--port", "1", "--log-level", "debug"])).toEqual([
      "node", "bin", "--log-level", "debug", "serve", "--port", "1"
    ])
  })
})
