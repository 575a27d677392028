/**
 * `GET /metrics` in the Prometheus text format (0.0.4): base units, `_total` counters, `_bytes`, per-stream
 * labels capped at `STREAM_LABEL_CAP` streams (the rest are summed under `name="_other"`). Stream counters
 * are read from the stream core's plain fields at scrape time, so the hot path pays nothing for them; the
 * connection counters come from Effect `Metric`s.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricState from "effect/MetricState"
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks"
import { ConnectionLimits } from "../core/limits.js"
import { StreamRegistry } from "../core/registry.js"
import { RelayHealth } from "../relay/health.js"
import { describeStream } from "./describe.js"

/** Streams with their own labels; beyond this they are summed, so a flood of names cannot blow up a scrape. */
export const STREAM_LABEL_CAP = 100

/** How often the event-loop delay monitor samples, in milliseconds. */
const EVENT_LOOP_RESOLUTION_MS = 20

/**
 * The event-loop delay, sampled by a timer every 20 ms from the first scrape on: started at load, it woke an
 * idle server 50 times a second (~0.4 % of a core here, most of what an idle server spent). The first
 * scrape reports 0; each later one the delay since the one before.
 */
let eventLoop: IntervalHistogram | undefined = undefined

/**
 * The 99th percentile of the event-loop delay since the last call, in seconds (0 on the first). Node's
 * histogram records the whole time between two samples, the 20 ms it waits included (an idle process reads
 * 20–25 ms), so the wait is taken off: the delay is how much later than due the sample ran.
 */
const eventLoopLag = (): number => {
  if (eventLoop === undefined) {
    eventLoop = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
    eventLoop.enable()
    return 0
  }
  const p99Ns = eventLoop.percentile(99)
  eventLoop.reset()
  return Math.max(0, p99Ns - EVENT_LOOP_RESOLUTION_MS * 1e6) / 1e9
}

const escape = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
const labels = (pairs: Record<string, string>) => {
  const body = Object.entries(pairs)
    .map(([k, v]) => `${k}="${escape(v)}"`)
    .join(",")
  return body === "" ? "" : `{${body}}`
}

class Exposition {
  private readonly lines: Array<string> = []
  family(name: string, type: "counter" | "gauge", help: string, samples: ReadonlyArray<readonly [Record<string, string>, number]>): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [pairs, value] of samples) this.lines.push(`${name}${labels(pairs)} ${Number.isFinite(value) ? value : 0}`)
  }
  toString(): string {
    return this.lines.join("\n") + "\n"
  }
}

export const renderMetrics = Effect.gen(function* () {
  const registry = yield* StreamRegistry
  const limits = yield* ConnectionLimits
  const relays = yield* Effect.serviceOption(RelayHealth)
  const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
  const streams = (yield* registry.streams).map((s) => describeStream(s, now))
  const out = new Exposition()

  const perStream = (pick: (s: (typeof streams)[number]) => number) => {
    const samples: Array<readonly [Record<string, string>, number]> = []
    let other = 0
    streams.forEach((s, i) => {
      if (i < STREAM_LABEL_CAP) samples.push([{ app: s.app, name: s.name }, pick(s)])
      else other += pick(s)
    })
    if (streams.length > STREAM_LABEL_CAP) samples.push([{ app: "_other", name: "_other" }, other])
    return samples
  }

  out.family("effect_rtmp_connections", "gauge", "Open connections, every protocol", [[{}, yield* limits.active]])
  const viewers = new Map<string, number>()
  for (const s of streams) for (const [protocol, n] of Object.entries(s.viewers)) viewers.set(protocol, (viewers.get(protocol) ?? 0) + n)
  out.family("effect_rtmp_viewers", "gauge", "Viewers by protocol (push relays count as protocol push)", [...viewers].map(([protocol, n]) => [{ protocol }, n] as const))
  out.family("effect_rtmp_publishers", "gauge", "Live streams", [[{}, streams.filter((s) => s.live).length]])
  out.family("effect_rtmp_stream_received_bytes_total", "counter", "Media bytes received from the publisher, by stream", perStream((s) => s.bytesIn))
  out.family("effect_rtmp_stream_frames_total", "counter", "Media frames received from the publisher, by stream", perStream((s) => s.framesIn))
  out.family("effect_rtmp_stream_frames_dropped_total", "counter", "Frames viewers skipped because they could not keep up, by stream", perStream((s) => s.framesDropped))
  out.family("effect_rtmp_stream_queued_bytes", "gauge", "Bytes queued to viewers and not yet sent, by stream", perStream((s) => s.queuedBytes))

  for (const pair of yield* Metric.snapshot) {
    const state = pair.metricState
    const name = pair.metricKey.name
    const tags = Object.fromEntries(pair.metricKey.tags.map((t) => [t.key, t.value]))
    if (MetricState.isCounterState(state)) out.family(name, "counter", name.replace(/_/g, " "), [[tags, Number(state.count)]])
    else if (MetricState.isGaugeState(state)) out.family(name, "gauge", name.replace(/_/g, " "), [[tags, Number(state.value)]])
  }

  if (relays._tag === "Some") {
    const reports = yield* relays.value.all
    out.family("effect_rtmp_relay_up", "gauge", "1 while a relay is live", reports.map((r) => [{ relay: r.id }, r.status._tag === "Live" ? 1 : 0] as const))
    out.family(
      "effect_rtmp_relay_retry_attempt",
      "gauge",
      "Attempt number of a relay in backoff (0 otherwise)",
      reports.map((r) => [{ relay: r.id }, r.status._tag === "Backoff" ? r.status.attempt : 0] as const)
    )
  }

  const usage = process.cpuUsage()
  out.family("process_cpu_seconds_total", "counter", "User and system CPU time spent", [[{}, (usage.user + usage.system) / 1e6]])
  out.family("process_resident_memory_bytes", "gauge", "Resident memory size", [[{}, process.memoryUsage.rss()]])
  const heap = process.memoryUsage()
  out.family("nodejs_heap_used_bytes", "gauge", "V8 heap in use", [[{}, heap.heapUsed]])
  out.family("nodejs_heap_total_bytes", "gauge", "V8 heap reserved (in use, free, young generation)", [[{}, heap.heapTotal]])
  out.family("nodejs_external_memory_bytes", "gauge", "Memory outside the V8 heap (Buffers)", [[{}, heap.external]])
  out.family("nodejs_array_buffers_bytes", "gauge", "Memory of ArrayBuffers and Buffers (part of external)", [[{}, heap.arrayBuffers]])
  out.family("nodejs_eventloop_lag_p99_seconds", "gauge", "99th percentile event-loop delay since the last scrape", [[{}, eventLoopLag()]])
  return out.toString()
})
