/**
 * Runs the CommonJS bundle (`dist/server.cjs`) with a V8 code cache. V8 then takes the bytecode of every
 * function the last start-up compiled from the cache instead of parsing and compiling the 1.3 MB bundle
 * again: profiled, compiling was ~85 ms of a ~430 ms start, and the first (cold) run of the command-line
 * parser another ~60 ms of lazy compilation. Node 20 caches no ES modules (`module.enableCompileCache` is
 * Node 22), hence a CommonJS bundle run through `vm.Script` (as `v8-compile-cache` did for npm tools).
 *
 * The cache is V8's own format, written beside the bundle after start-up by the process that missed it.
 * Its name carries the build's content hash and `v8.cachedDataVersionTag()` (V8's version, flags and CPU
 * features): a rebuilt bundle or another Node never reads a cache that is not its own (V8 itself checks
 * only the source's length). A missing, rejected or unwritable cache costs only the time it would save.
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as v8 from "node:v8"
import * as vm from "node:vm"

/** How long after launch the cache is written: start-up is over by then, so its functions are in it. */
export const WRITE_AFTER_MS = 1500
/** Caches kept per build (one per set of node flags it ran with); older ones are removed. */
const KEEP = 4

export interface CodeCacheOptions {
  /** The build's content hash (bundle.mjs puts it into the launcher). */
  readonly buildId: string
  /** Where caches live; the bundle's directory by default. */
  readonly directory?: string
  readonly writeAfterMs?: number
}

/** How the names of `bundle`'s cache files begin: of every build's, or of one build's when `buildId` is given. */
export const cachePrefix = (bundle: string, buildId?: string): string =>
  `${path.basename(bundle)}.${buildId === undefined ? "" : `${buildId}-`}`

/** The cache file for this build under this V8 (version, flags, CPU features). */
export const cacheFile = (bundle: string, options: CodeCacheOptions): string =>
  path.join(options.directory ?? path.dirname(bundle), `${cachePrefix(bundle, options.buildId)}${v8.cachedDataVersionTag()}.cache`)

const readOrUndefined = (file: string): Buffer | undefined => {
  try {
    return fs.readFileSync(file)
  } catch {
    return undefined
  }
}

/** Writes atomically (a concurrent start may write the same cache) and keeps the newest few of the bundle's caches. */
const writeCache = (file: string, data: Buffer, prefix: string): void => {
  try {
    const temporary = `${file}.${process.pid}.tmp`
    fs.writeFileSync(temporary, data)
    fs.renameSync(temporary, file)
    const directory = path.dirname(file)
    const siblings = fs
      .readdirSync(directory)
      .filter((name) => name.startsWith(prefix) && name.endsWith(".cache"))
      .map((name) => ({ name, at: fs.statSync(path.join(directory, name)).mtimeMs }))
      .sort((a, b) => b.at - a.at)
    for (const old of siblings.slice(KEEP)) fs.rmSync(path.join(directory, old.name), { force: true })
  } catch {
    // A read-only installation runs without a cache: the cache is a speed-up, never a requirement.
  }
}

/** How the bundle was loaded (whether a cache was offered, and whether V8 refused it) and what it exports. */
export interface CodeCacheOutcome {
  readonly file: string
  readonly offered: boolean
  readonly rejected: boolean
  readonly exports: unknown
}

/** The function Node wraps a CommonJS module in: the bundle's text is one (bundle.mjs writes it so). */
type CommonJsWrapper = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void

/** Loads and runs the bundle at `bundle` as a CommonJS module of its own, through the code cache. */
export const runBundle = (bundle: string, options: CodeCacheOptions): CodeCacheOutcome => {
  const file = cacheFile(bundle, options)
  let cachedData = readOrUndefined(file)
  const offered = cachedData !== undefined
  const script = new vm.Script(fs.readFileSync(bundle, "latin1"), {
    filename: bundle,
    ...(cachedData === undefined ? {} : { cachedData })
  })
  // Released before the bundle runs: held through its start-up, the 1.4 MB would be promoted and kept until a full GC.
  cachedData = undefined
  const rejected = offered && script.cachedDataRejected === true
  if (!offered || rejected) {
    setTimeout(() => writeCache(file, script.createCachedData(), cachePrefix(bundle)), options.writeAfterMs ?? WRITE_AFTER_MS).unref()
  }
  const run = script.runInThisContext() as CommonJsWrapper
  const module = { exports: {} }
  run.call(module.exports, module.exports, createRequire(bundle), module, bundle, path.dirname(bundle))
  return { file, offered, rejected, exports: module.exports }
}
