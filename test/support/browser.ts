/** Debian's Chromium driven by puppeteer-core (no browser download): headless, sandbox off for root in CI. */
import * as fs from "node:fs"
import puppeteer, { type Browser, type Page } from "puppeteer-core"

/** Debian's chromium, or one on PATH (the nix dev shell). */
export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", ...(process.env.PATH ?? "").split(":").map((dir) => `${dir}/chromium`)].find((p) =>
  fs.existsSync(p)
)

export const launchChromium = (): Promise<Browser> =>
  puppeteer.launch({
    executablePath: CHROMIUM ?? "chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
  })

/** What the watch page reports about its playback. */
export interface Playback {
  readonly firstFrameAt: number | undefined
  readonly currentTime: number
  readonly frames: number
  readonly errors: ReadonlyArray<string>
  /** LL-HLS only: Date.now() − hls.playingDate (PROGRAM-DATE-TIME), ms: glass-to-glass less the encoder. */
  readonly behindLiveMs: number | null
  readonly stalls: number
  /** LL-HLS only: each stall as the watch page saw it (position, buffered ahead, hls.js latency, playlist age). */
  readonly stallLog: ReadonlyArray<unknown>
}

/** The watch page's playback now (evaluated as source text: the project compiles without the DOM library). */
export const playbackOf = (page: Page): Promise<Playback> =>
  page.evaluate(`(() => {
    const video = document.querySelector("video")
    return {
      firstFrameAt: window.firstFrameAt,
      currentTime: video.currentTime,
      frames: video.getVideoPlaybackQuality().totalVideoFrames,
      errors: window.playerErrors,
      behindLiveMs: window.hls && window.hls.playingDate ? Date.now() - window.hls.playingDate.getTime() : null,
      stalls: window.playerStalls || 0,
      stallLog: window.playerStallLog || []
    }
  })()`) as Promise<Playback>
