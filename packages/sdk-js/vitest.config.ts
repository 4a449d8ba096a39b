import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// The tests start real servers from the server package's sources and test support. They reach them (and the
// protocol's sources) by path, not as workspace dependencies, so that the published manifest names nothing that
// is not on the registry.
const server = fileURLToPath(new URL('../server/', import.meta.url))
const protocol = fileURLToPath(new URL('../protocol/src/index.ts', import.meta.url))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@bastide\/server\//, replacement: server },
      { find: /^@bastide\/protocol$/, replacement: protocol },
    ],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The server's: one PostgreSQL for the run (DATABASE_URL, or embedded); each file makes its own database.
    globalSetup: ['../server/test/support/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', '../server/test/support/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // expect.poll waits for a browser or a server: load makes a passing test slower, never a failing one.
    expect: { poll: { timeout: 15_000 } },
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.test.json' },
  },
})
