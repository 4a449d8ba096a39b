import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // expect.poll waits for a browser or a server to get somewhere: a loaded machine (CI runs two test files at
    // once on two cores) must make a passing test slower, never a failing one. Only a failure waits this long.
    expect: { poll: { timeout: 15_000 } },
  },
})
