/** Debian's Chromium driven by puppeteer-core (no browser download): headless, sandbox off for root in CI. */
import * as fs from "node:fs"
import puppeteer, { type Browser } from "puppeteer-core"

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
