import {
  ADMIN_KEY,
  createKey,
  startTestServer,
  type TestServer,
} from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from './support/run-cli.ts'

let s: TestServer
let usersKey: string
let cli: (key: string, ...args: string[]) => ReturnType<typeof runCli>

async function newUser(email: string): Promise<string> {
  const r = await s.api('POST', '/api/admin/users', {
    email,
    password: 'correct horse battery',
    name: email.split('@')[0],
  })
  if (r.status !== 201) throw new Error(`user create failed: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.id
}

beforeAll(async () => {
  s = await startTestServer({ listen: true })
  usersKey = await createKey(s, ['users'])
  cli = (key, ...args) => runCli(['--url', s.bastide.url, '--key', key, ...args])
})
afterAll(async () => {
  await s?.close()
})

describe('/api/admin/users with API keys', () => {
  it('answers keys with the users scope, refuses others (403), and keeps impersonation for console admins', async () => {
    const id = await newUser('scope@example.com')
    expect((await s.api('GET', '/api/admin/users', undefined, { as: usersKey })).status).toBe(200)
    expect((await s.api('GET', `/api/admin/users/${id}`, undefined, { as: usersKey })).status).toBe(200)
    const others = await createKey(s, ['schema', 'records:read', 'records:write', 'keys', 'metrics'])
    const refused = await s.api('GET', '/api/admin/users', undefined, { as: others })
    expect(refused.status).toBe(403)
    expect(refused.body.code).toBe('FORBIDDEN')
    const imp = await s.api('POST', `/api/admin/users/${id}/impersonate`, {}, { as: usersKey })
    expect(imp.status).toBe(403)
    expect((await s.api('POST', `/api/admin/users/${id}/impersonate`, {})).status).toBe(201)
    // A key's writes are audited under the key's id.
    expect((await s.api('POST', `/api/admin/users/${id}/verify`, {}, { as: usersKey })).status).toBe(200)
    const audit = await s.api('GET', `/api/admin/audit?target=${id}`)
    expect(audit.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'user.verify', actor: expect.stringMatching(/^key:/) }),
      ]),
    )
  })
})

describe('bastide users', () => {
  it('lists users with --search and --limit', async () => {
    await newUser('alice@shop.test')
    await newUser('bob@shop.test')
    await newUser('carol@elsewhere.test')
    const run = await cli(usersKey, 'users', 'list', '--search', 'shop.test', '--json')
    expect(run.code, run.stderr).toBe(0)
    const page = run.json()
    expect(page.items.map((u: { email: string }) => u.email).sort()).toEqual([
      'alice@shop.test',
      'bob@shop.test',
    ])
    expect(page.totalItems).toBe(2)
    const one = (
      await cli(usersKey, 'users', 'list', '--search', 'shop.test', '--limit', '1', '--json')
    ).json()
    expect(one.items).toHaveLength(1)
    expect(one.totalItems).toBe(2)
    const text = await cli(usersKey, 'users', 'list', '--search', 'shop.test', '--limit', '1')
    expect(text.stdout).toContain('EMAIL')
    expect(text.stdout).toContain('(1 of 2')
  })

  it('bans with a reason and an end, then unbans', async () => {
    const id = await newUser('troll@example.com')
    const until = new Date(Date.now() + 7 * 86_400_000).toISOString()
    const ban = await cli(usersKey, 'users', 'ban', id, '--reason', 'spam', '--until', until, '--json')
    expect(ban.code, ban.stderr).toBe(0)
    expect(ban.json()).toMatchObject({ id, banned: true, banReason: 'spam' })
    expect(Date.parse(ban.json().banExpires)).toBe(Date.parse(until))
    const signIn = await s.api(
      'POST',
      '/api/auth/sign-in/email',
      { email: 'troll@example.com', password: 'correct horse battery' },
      { as: 'anon' },
    )
    expect(signIn.status).toBeGreaterThanOrEqual(400)

    const unban = await cli(ADMIN_KEY, 'users', 'unban', id)
    expect(unban.code, unban.stderr).toBe(0)
    expect(unban.stdout).toContain('Unbanned troll@example.com')
    expect((await s.api('GET', `/api/admin/users/${id}`)).body.banned).toBe(false)
  })

  it('exits 2 on bad usage, 1 for an unknown user, 3 for a key without the users scope', async () => {
    expect((await cli(usersKey, 'users', 'list', '--limit', '0')).code).toBe(2)
    expect(
      (await cli(usersKey, 'users', 'ban', '00000000-0000-4000-8000-000000000000', '--until', 'someday'))
        .code,
    ).toBe(2)
    expect(
      (await cli(usersKey, 'users', 'ban', '00000000-0000-4000-8000-000000000000', '--until', '2001-01-01'))
        .code,
    ).toBe(2)
    const missing = await cli(usersKey, 'users', 'ban', '00000000-0000-4000-8000-000000000000', '--json')
    expect(missing.code).toBe(1)
    expect(missing.json().error.code).toBe('NOT_FOUND')
    const bad = await cli(usersKey, 'users', 'unban', 'not-a-uuid', '--json')
    expect(bad.code).toBe(1)
    expect(bad.json().error.code).toBe('BAD_REQUEST')
    const weak = await createKey(s, ['records:read'])
    expect((await cli(weak, 'users', 'list')).code).toBe(3)
  })
})
