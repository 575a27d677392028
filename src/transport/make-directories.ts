/**
 * `mkdir -p`, one level at a time: Node's `mkdir(…, { recursive: true })` never returns for a path under
 * /proc (it retries the ENOENT that /proc answers for the parent it has just seen).
 */
import * as fs from "node:fs"
import * as path from "node:path"

export const makeDirectories = async (directory: string): Promise<void> => {
  const absolute = path.resolve(directory)
  const levels = absolute.split(path.sep).filter((part) => part !== "")
  let current = path.parse(absolute).root
  for (const level of levels) {
    current = path.join(current, level)
    await fs.promises.mkdir(current).catch((cause: unknown) => {
      if (!(cause instanceof Error && "code" in cause && cause.code === "EEXIST")) throw cause
    })
  }
}
