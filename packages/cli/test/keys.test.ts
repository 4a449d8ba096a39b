import {
  ADMIN_KEY,
  createKey,
  startTestServer,
  type TestServer,
} from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from './support/run-cli.ts'

let s: TestServer
let as: (key: string) => string[]

beforeAll(async () => {
  s = await startTestServer({ listen: true })
  as = (key) => ['--url', s.bastide.url, '--key', key]
})
afterAll(async () => {
  await s?.close()
})

describe('bastide keys', () => {
  it('creates a key (its secret shown once), lists it without the secret, and revokes it', async () => {
    const created = await runCli([
      ...as(ADMIN_KEY),
      'keys',
      'create',
      '--name',
      'ci deploy',
      '--scope',
      'schema',
      '--scope',
      'records:read,records:write',
      '--expires',
      '30',
      '--json',
    ])
    expect(created.code, created.stderr).toBe(0)
    const key = created.json()
    expect(key).toMatchObject({
      name: 'ci deploy',
      scopes: ['schema', 'records:read', 'records:write'],
      key: expect.stringMatching(/^bst_sk_/),
    })
    const days = (Date.parse(key.expires) - Date.now()) / 86_400_000
    expect(days).toBeGreaterThan(29)
    expect(days).toBeLessThanOrEqual(30)
    // The new key works.
    expect((await s.api('GET', '/api/collections', undefined, { as: key.key })).status).toBe(200)

    const list = await runCli([...as(ADMIN_KEY), 'keys', 'list', '--json'])
    expect(list.code).toBe(0)
    expect(list.stdout).not.toContain(key.key)
    expect(list.json().items).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: key.id, name: 'ci deploy' })]),
    )
    const text = await runCli([...as(ADMIN_KEY), 'keys', 'list'])
    expect(text.stdout).toContain('ci deploy')
    expect(text.stdout).toContain(key.prefix)

    const revoked = await runCli([...as(ADMIN_KEY), 'keys', 'revoke', key.id, '--json'])
    expect(revoked.code, revoked.stderr).toBe(0)
    expect(revoked.json()).toEqual({ revoked: key.id })
    expect((await s.api('GET', '/api/collections', undefined, { as: key.key })).status).toBe(401)
  })

  it('prints the secret in text mode too', async () => {
    const run = await runCli([...as(ADMIN_KEY), 'keys', 'create', '--name', 'plain', '--scope', 'metrics'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^bst_sk_\S+$/m)
  })

  it('exits 2 on bad usage, 1 when the server refuses, 3 for a key without the keys scope', async () => {
    const typo = await runCli([...as(ADMIN_KEY), 'keys', 'create', '--name', 'x', '--scope', 'record:read'])
    expect(typo.code).toBe(2)
    expect(typo.stderr).toContain('record:read')
    expect((await runCli([...as(ADMIN_KEY), 'keys', 'create', '--scope', 'schema'])).code).toBe(2)
    expect(
      (
        await runCli([
          ...as(ADMIN_KEY),
          'keys',
          'create',
          '--name',
          'x',
          '--scope',
          'schema',
          '--expires',
          'soon',
        ])
      ).code,
    ).toBe(2)

    const missing = await runCli([
      ...as(ADMIN_KEY),
      'keys',
      'revoke',
      '00000000-0000-4000-8000-000000000000',
      '--json',
    ])
    expect(missing.code).toBe(1)
    expect(missing.json().error.code).toBe('NOT_FOUND')

    const weak = await createKey(s, ['schema'])
    const refused = await runCli([...as(weak), 'keys', 'list', '--json'])
    expect(refused.code).toBe(3)
    expect(refused.json().error.code).toBe('FORBIDDEN')
    // A key never mints a stronger one.
    const keysOnly = await createKey(s, ['keys'])
    const stronger = await runCli([...as(keysOnly), 'keys', 'create', '--name', 'up', '--scope', 'schema'])
    expect(stronger.code).toBe(3)
  })
})
