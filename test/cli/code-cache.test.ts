import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { cacheFile, runBundle } from "../../src/cli/code-cache.js"
import { waitUntil } from "../support/poll.js"

/** A bundle as scripts/bundle.mjs writes it: the function Node wraps a CommonJS module in. */
const bundleSource = (answer: number) => `// a comment first, as in the bundle
(function (exports, require, module, __filename, __dirname) {"use strict";
const path = require("node:path");
function strict() { return this === undefined }
function later(n) { return n * 2 }
module.exports = { answer: ${answer}, file: __filename, dir: __dirname, joined: path.join("a", "b"), strict: strict(), later: later(21) };
})
`

const scratch = () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "code-cache-"))
  const bundle = path.join(directory, "server.cjs")
  fs.writeFileSync(bundle, bundleSource(42))
  return { directory, bundle }
}

const caches = (directory: string) => fs.readdirSync(directory).filter((name) => name.endsWith(".cache"))

describe("the bundle's code cache", () => {
  it("runs the bundle as a strict CommonJS module, writes the cache after start-up, and the next run takes it", async () => {
    const { directory, bundle } = scratch()
    const first = runBundle(bundle, { buildId: "b1", writeAfterMs: 0 })
    expect(first.exports).toEqual({ answer: 42, file: bundle, dir: directory, joined: path.join("a", "b"), strict: true, later: 42 })
    expect(first.offered).toBe(false)
    await waitUntil("the cache file", () => fs.existsSync(first.file))
    expect(path.dirname(first.file)).toBe(directory)
    const second = runBundle(bundle, { buildId: "b1", writeAfterMs: 0 })
    expect(second).toMatchObject({ offered: true, rejected: false, exports: first.exports })
  })

  it("a rebuilt bundle never reads the last build's cache, even when its text has the same length", async () => {
    const { directory, bundle } = scratch()
    const first = runBundle(bundle, { buildId: "old", writeAfterMs: 0 })
    await waitUntil("the cache file", () => fs.existsSync(first.file))
    fs.writeFileSync(bundle, bundleSource(43)) // V8 would take the old cache for this text: it checks the length only
    const rebuilt = runBundle(bundle, { buildId: "new", writeAfterMs: 0 })
    expect(rebuilt.offered).toBe(false)
    expect(rebuilt.exports).toMatchObject({ answer: 43 })
    expect(rebuilt.file).not.toBe(first.file)
    await waitUntil("the new build's cache", () => fs.existsSync(rebuilt.file))
    expect(caches(directory)).toHaveLength(2)
  })

  it("a corrupt cache is refused by V8, the bundle runs all the same and the cache is written again", async () => {
    const { bundle } = scratch()
    const file = cacheFile(bundle, { buildId: "b1" })
    fs.writeFileSync(file, Buffer.alloc(4096, 7))
    const run = runBundle(bundle, { buildId: "b1", writeAfterMs: 0 })
    expect(run).toMatchObject({ offered: true, rejected: true, exports: { answer: 42 } })
    await waitUntil("a new cache", () => fs.readFileSync(file).some((byte) => byte !== 7))
    expect(runBundle(bundle, { buildId: "b1", writeAfterMs: 0 })).toMatchObject({ offered: true, rejected: false })
  })

  it("an unwritable cache directory costs only the speed-up", async () => {
    const { directory, bundle } = scratch()
    const missing = path.join(directory, "no-such-directory")
    const run = runBundle(bundle, { buildId: "b1", directory: missing, writeAfterMs: 0 })
    expect(run.exports).toMatchObject({ answer: 42 })
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setTimeout(resolve, 50)) // the write's timer has run (0 ms) and failed quietly
    expect(fs.existsSync(missing)).toBe(false)
  })

  it("keeps the newest four caches of a bundle (one per set of node flags), removing older ones", async () => {
    const { directory, bundle } = scratch()
    const old = (tag: number, ageSeconds: number) => {
      const file = path.join(directory, `server.cjs.b1-${tag}.cache`)
      fs.writeFileSync(file, "x")
      const at = new Date(Date.now() - ageSeconds * 1000)
      fs.utimesSync(file, at, at)
      return file
    }
    const files = [old(1, 50), old(2, 40), old(3, 30), old(4, 20)]
    const other = path.join(directory, "unrelated.cache")
    fs.writeFileSync(other, "y")
    const run = runBundle(bundle, { buildId: "b1", writeAfterMs: 0 })
    await waitUntil("the cache file", () => fs.existsSync(run.file))
    expect(files.map((file) => fs.existsSync(file))).toEqual([false, true, true, true])
    expect(fs.existsSync(other)).toBe(true)
  })
})
