import { defineConfig } from "vitest/config"

/**
 * Three projects, run one after another (`sequence.groupOrder`):
 * - unit: pure code (codecs, sessions back to back, stream core, config), files in parallel, seconds;
 * - integration: the server in-process on loopback sockets (timeouts, floods, fuzzing);
 * - interop: real ffmpeg, ffprobe, rtmpdump, nginx and the built CLI as child processes, one file at a time
 *   so a 2-core machine is not starved.
 * A test file that is neither listed as unit nor under test/interop is integration, so none is left out.
 * "One at a time" comes from the worker count: vitest runs cpus − 1 forks, one on the 2-core CI machine.
 * (`singleFork` was tried: files sharing one process broke TestClock lookups in later files.)
 */
const unit = [
  "test/protocol/**/*.test.ts",
  "test/session/**/*.test.ts",
  "test/cli/**/*.test.ts",
  "test/relay/url.test.ts",
  "test/relay/supervisor.test.ts",
  "test/media/**/*.test.ts",
  "test/core/**/*.test.ts",
  "test/rtmp/sinks.test.ts",
  "test/flv/sink.test.ts",
  "test/hls/packager.test.ts",
  "test/fuzz/protocol-fuzz.test.ts"
]
const interop = ["test/interop/**/*.test.ts"]

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      { extends: true, test: { name: "unit", include: unit, sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude: [...unit, ...interop],
          sequence: { groupOrder: 1 }
        }
      },
      { extends: true, test: { name: "interop", include: interop, sequence: { groupOrder: 2 } } }
    ]
  }
})
