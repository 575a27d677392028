#!/usr/bin/env node
// `npm start` builds only when a source file is newer than the last build: starting an unchanged
// checkout costs a directory walk, not a TypeScript compile (~7 s on the 2-core machine).
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const stamp = path.join(root, "dist", ".tsbuildinfo")
const newest = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
    const full = path.join(dir, entry.name)
    return Math.max(latest, entry.isDirectory() ? newest(full) : fs.statSync(full).mtimeMs)
  }, 0)
const inputs = Math.max(newest(path.join(root, "src")), ...["tsconfig.json", "tsconfig.build.json", "package-lock.json"].map((f) => fs.statSync(path.join(root, f)).mtimeMs))
const built = fs.existsSync(stamp) && fs.existsSync(path.join(root, "dist", "server.mjs")) ? fs.statSync(stamp).mtimeMs : 0
if (built < inputs) {
  execFileSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit" })
  execFileSync(process.execPath, [path.join(root, "scripts", "bundle.mjs")], { stdio: "inherit" })
  // tsc leaves its build info alone when nothing changed; the stamp must still say "built now".
  const now = new Date()
  fs.utimesSync(stamp, now, now)
}
