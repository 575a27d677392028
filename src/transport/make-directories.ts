/**
 * `mkdir -p`, one level at a time: Node's `mkdir(…, { recursive: true })` never returns for a path under
 * /proc (it retries the ENOENT that /proc answers for the parent it has just seen).
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** Every directory from the root down to `directory`, absolute. */
const levels = (directory: string): Array<string> => {
  const absolute = path.resolve(directory)
  let current = path.parse(absolute).root
  return absolute
    .split(path.sep)
    .filter((part) => part !== "")
    .map((level) => (current = path.join(current, level)))
}

const existed = (cause: unknown): boolean => cause instanceof Error && "code" in cause && cause.code === "EEXIST"

export const makeDirectories = async (directory: string): Promise<void> => {
  for (const level of levels(directory)) {
    await fs.promises.mkdir(level).catch((cause: unknown) => {
      if (!existed(cause)) throw cause
    })
  }
}

/** The same, blocking: for code that must not wait (the recorder opens its next file between two frames). */
export const makeDirectoriesSync = (directory: string): void => {
  for (const level of levels(directory)) {
    try {
      fs.mkdirSync(level)
    } catch (cause) {
      if (!existed(cause)) throw cause
    }
  }
}
