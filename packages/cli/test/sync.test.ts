import {
  ADMIN_KEY,
  createCollection,
  createKey,
  startTestServer,
  type TestServer,
} from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from './support/run-cli.ts'

/**
 * `bastide sync`: enabling a collection with a conflict policy, the status table and the change log's line,
 * disabling it (its policy kept), the help text, and the exit codes of bad usage, of an unknown collection and of a
 * key without the schema scope.
 */

let s: TestServer
let as: (key: string) => string[]

beforeAll(async () => {
  s = await startTestServer({ listen: true })
  as = (key) => ['--url', s.bastide.url, '--key', key]
  await createCollection(s, { name: 'notes', fields: [{ name: 'title', type: 'text' }] })
})
afterAll(async () => {
  await s?.close()
})

describe('bastide sync', () => {
  it('enables a collection with a policy, shows it in the status, disables it keeping the policy', async () => {
    const before = await runCli([...as(ADMIN_KEY), 'sync', 'status'])
    expect(before.code, before.stderr).toBe(0)
    expect(before.stdout).toMatch(
      /^Change log: \d+ entr(y|ies).*; kept 30 days \(BASTIDE_SYNC_RETENTION_DAYS\)\.$/m,
    )

    const on = await runCli([...as(ADMIN_KEY), 'sync', 'enable', 'notes', '--conflict', 'lww_field'])
    expect(on.code, on.stderr).toBe(0)
    expect(on.stdout.trim()).toBe('Sync enabled for notes (lww_field).')

    const status = await runCli([...as(ADMIN_KEY), 'sync', 'status'])
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toMatch(/^COLLECTION\s+ENABLED\s+CONFLICT\s+MERGEFUNCTION$/m)
    expect(status.stdout).toMatch(/^notes\s+yes\s+lww_field$/m)

    // Without --conflict, enable keeps the current policy.
    const again = await runCli([...as(ADMIN_KEY), 'sync', 'enable', 'notes', '--json'])
    expect(again.code, again.stderr).toBe(0)
    expect(again.json()).toEqual({
      collection: 'notes',
      enabled: true,
      conflict: 'lww_field',
      mergeFunction: null,
    })

    const off = await runCli([...as(ADMIN_KEY), 'sync', 'disable', 'notes'])
    expect(off.code, off.stderr).toBe(0)
    expect(off.stdout.trim()).toBe('Sync disabled for notes.')
    const json = await runCli([...as(ADMIN_KEY), 'sync', 'status', '--json'])
    expect(json.code, json.stderr).toBe(0)
    expect(json.json()).toMatchObject({ retentionDays: 30, log: { entries: expect.any(Number) } })
    expect(json.json().collections).toContainEqual({
      collection: 'notes',
      enabled: false,
      conflict: 'lww_field',
      mergeFunction: null,
    })
  })

  it('documents its subcommands and the four policies in --help', async () => {
    const top = await runCli(['--help'])
    expect(top.stdout).toMatch(/^\s+sync\b.*Offline sync/m)
    const help = await runCli(['sync', '--help'])
    expect(help.code).toBe(0)
    for (const sub of ['status', 'enable', 'disable'])
      expect(help.stdout).toMatch(new RegExp(`^\\s+${sub}\\b`, 'm'))
    const enable = await runCli(['sync', 'enable', '--help'])
    expect(enable.code).toBe(0)
    for (const policy of ['server_wins', 'client_wins', 'lww_field', 'function'])
      expect(enable.stdout).toMatch(new RegExp(`^\\s+${policy}\\s+\\S`, 'm'))
    expect(enable.stdout).toContain('--merge-function <name>')
  })

  it('exits 2 on bad usage, 1 when the server refuses, 3 for a key without the schema scope', async () => {
    const usage = [
      ['enable', 'notes', '--conflict', 'newest'],
      ['enable', 'notes', '--conflict', 'function'],
      ['enable', 'notes', '--conflict', 'server_wins', '--merge-function', 'merge-notes'],
      ['enable'],
    ]
    for (const args of usage) {
      const r = await runCli([...as(ADMIN_KEY), 'sync', ...args])
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
    }
    const unknown = await runCli([...as(ADMIN_KEY), 'sync', 'enable', 'no_such_collection'])
    expect(unknown.code, unknown.stderr).toBe(1)

    const metrics = await createKey(s, ['metrics'])
    expect((await runCli([...as(metrics), 'sync', 'status'])).code).toBe(3)
    const schema = await createKey(s, ['schema'])
    const allowed = await runCli([...as(schema), 'sync', 'enable', 'notes', '--conflict', 'server_wins'])
    expect(allowed.code, allowed.stderr).toBe(0)
    expect(allowed.stdout.trim()).toBe('Sync enabled for notes (server_wins).')
  })
})
