#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, top N.
// usage: node bench/profile-top.mjs FILE.cpuprofile [N=25]
import * as fs from "node:fs"

const [file, n = "25"] = process.argv.slice(2)
if (!file) {
  console.error("usage: node bench/profile-top.mjs FILE.cpuprofile [N]")
  process.exit(2)
}
const profile = JSON.parse(fs.readFileSync(file, "utf8"))
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const self = new Map()
const intervals = profile.timeDeltas
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i])
  const { functionName, url, lineNumber } = node.callFrame
  const key = `${functionName || "(anonymous)"} ${url.replace(/^.*\/(node_modules|src|dist)\//, "$1/")}:${lineNumber + 1}`
  self.set(key, (self.get(key) ?? 0) + (intervals[i] ?? 0))
}
const total = [...self.values()].reduce((a, b) => a + b, 0)
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(n))
console.log(`total sampled: ${(total / 1000).toFixed(0)} ms`)
for (const [key, us] of rows) console.log(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`)
