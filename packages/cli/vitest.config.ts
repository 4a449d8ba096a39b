import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// Tests start real servers from the server package's sources and test support, reached by path, and run the real
// `bastide` binary (bin/bastide.mjs) as a child process.
const server = fileURLToPath(new URL('../server/', import.meta.url))
const sdk = fileURLToPath(new URL('../sdk-js/src/index.ts', import.meta.url))
const protocol = fileURLToPath(new URL('../protocol/src/index.ts', import.meta.url))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@bastide\/server\//, replacement: server },
      { find: /^@bastide\/sdk$/, replacement: sdk },
      { find: /^@bastide\/protocol$/, replacement: protocol },
    ],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The server's PostgreSQL for the run (each file makes its own database), then one CLI build for all files.
    globalSetup: ['../server/test/support/global-setup.ts', './test/support/build-cli.ts'],
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', '../server/test/support/summary-reporter.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    expect: { poll: { timeout: 15_000 } },
  },
})
