/**
 * The `--log-format pretty` logger when standard output is not a terminal (a service, a file, a pipe):
 * the same text as Effect's pretty logger without colours, written with one `write` per entry. Effect's
 * prints each entry as several `console` calls (the first line, a group, a call per annotation), each
 * formatted and written on its own: in a profile of 1,000 players joining at once, logging was 11 % of
 * the server's CPU. At a terminal Effect's own (coloured) logger is used.
 */
import * as Cause from "effect/Cause"
import * as FiberId from "effect/FiberId"
import * as Inspectable from "effect/Inspectable"
import * as List from "effect/List"
import * as Logger from "effect/Logger"
import * as LogSpan from "effect/LogSpan"
import { format } from "node:util"

const two = (n: number): string => n.toString().padStart(2, "0")

/** `HH:MM:SS.mmm`, local time, as Effect's pretty logger prints it. */
const time = (date: Date): string =>
  `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${date.getMilliseconds().toString().padStart(3, "0")}`

/** A line (or lines) inside the entry's group: indented by two spaces, as `console.group` does. */
const indented = (text: string): string => `  ${text.replace(/\n/g, "\n  ")}\n`

/** One entry's text: `[time] LEVEL (#fiber) spans: message`, then the cause, further messages and annotations. */
export const formatEntry = (options: Logger.Logger.Options<unknown>): string => {
  const { annotations, cause, date, fiberId, logLevel, spans } = options
  const message: ReadonlyArray<unknown> = Array.isArray(options.message) ? options.message : [options.message]
  let text = `[${time(date)}] ${logLevel.label} (${FiberId.threadName(fiberId)})`
  if (List.isCons(spans)) {
    const render = LogSpan.render(date.getTime())
    for (const span of spans) text += ` ${render(span)}`
  }
  text += ":"
  let next = 0
  const first = message.length > 0 ? Inspectable.toJSON(message[0]) : undefined
  if (typeof first === "string") {
    text += ` ${first}`
    next = 1
  }
  text += "\n"
  if (!Cause.isEmpty(cause)) text += indented(Cause.pretty(cause, { renderErrorCause: true }))
  for (; next < message.length; next++) text += indented(format(Inspectable.redact(message[next])))
  for (const [key, value] of annotations) text += indented(format(`${key}:`, Inspectable.redact(value)))
  return text
}

/** Writes each entry with one call of `write` (standard output unless told otherwise). */
export const singleWriteLogger = (write: (text: string) => void = (text) => void process.stdout.write(text)) =>
  Logger.make((options) => write(formatEntry(options)))

/** `--log-format pretty`: Effect's coloured logger at a terminal, the single-write one everywhere else. */
export const prettyLayer = process.stdout.isTTY === true ? Logger.pretty : Logger.replace(Logger.defaultLogger, singleWriteLogger())
