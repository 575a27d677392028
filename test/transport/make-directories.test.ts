import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { makeDirectories, makeDirectoriesSync } from "../../src/transport/make-directories.js"

describe("mkdir -p", () => {
  for (const [name, make] of [
    ["makeDirectories", makeDirectories],
    ["makeDirectoriesSync", async (directory: string) => makeDirectoriesSync(directory)]
  ] as const) {
    it(`${name}: creates every level, again is a no-op, through a file or under /proc fails instead of hanging`, async () => {
      const base = fs.mkdtempSync(path.join(os.tmpdir(), "mkdirp-"))
      const deep = path.join(base, "a", "b", "c")
      await make(deep)
      expect(fs.statSync(deep).isDirectory()).toBe(true)
      await make(deep)
      fs.writeFileSync(path.join(base, "file"), "x")
      await expect(make(path.join(base, "file", "d"))).rejects.toThrow(/ENOTDIR/)
      await expect(make("/proc/no/such/dir")).rejects.toThrow(/ENOENT/)
    })
  }
})
