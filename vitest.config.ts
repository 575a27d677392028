import { defineConfig } from "vitest/config"

/**
 * Three projects, run one after another (`sequence.groupOrder`):
 * - unit: pure code (codecs, sessions back to back, stream core, config), files in parallel, seconds;
 * - integration: the server in-process on loopback sockets (timeouts, floods, fuzzing), one file at a time;
 * - interop: real ffmpeg, ffprobe, rtmpdump, nginx and the built CLI as child processes, one file at a time
 *   so a 2-core machine is not starved.
 * A test file that is neither listed as unit nor under test/interop is integration, so none is left out.
 */
const unit = [
  "test/protocol/**/*.test.ts",
  "test/session/**/*.test.ts",
  "test/cli/**/*.test.ts",
  "test/relay/url.test.ts",
  "test/relay/supervisor.test.ts",
  "test/server/stream.test.ts",
  "test/server/registry.test.ts",
  "test/server/config.test.ts",
  "test/server/auth.test.ts",
  "test/server/join-burst.test.ts",
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
          sequence: { groupOrder: 1 },
          poolOptions: { forks: { singleFork: true } }
        }
      },
      { extends: true, test: { name: "interop", include: interop, sequence: { groupOrder: 2 }, poolOptions: { forks: { singleFork: true } } } }
    ]
  }
})
