import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vitest/config'

// Browser tests start a real server from the server package's sources and test support, reached by path.
const server = fileURLToPath(new URL('../server/', import.meta.url))
const sdk = fileURLToPath(new URL('../sdk-js/src/index.ts', import.meta.url))
const protocol = fileURLToPath(new URL('../protocol/src/index.ts', import.meta.url))

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: [
      { find: /^@bastide\/server\//, replacement: server },
      { find: /^@bastide\/sdk$/, replacement: sdk },
      { find: /^@bastide\/protocol$/, replacement: protocol },
    ],
  },
  test: {
    include: ['src/**/*.test.{ts,tsx}', 'test/**/*.test.{ts,tsx}'],
    // The server's PostgreSQL for the run (each file makes its own database), then one console build for all.
    globalSetup: ['../server/test/support/global-setup.ts', './test/support/build-console.ts'],
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', '../server/test/support/summary-reporter.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    expect: { poll: { timeout: 15_000 } },
  },
})
