import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config/load-config.ts'
import { SCOPES } from '../src/core/auth/principal.ts'
import { startBastide } from '../src/server.ts'
import { signUp } from './support/auth.ts'
import { createKey, startTestServer, type TestServer } from './support/harness.ts'

let s: TestServer
let sqlc: pg.Client

beforeAll(async () => {
  s = await startTestServer({ env: { BASTIDE_AUDIT_RETENTION_DAYS: '30' } })
  sqlc = new pg.Client({ connectionString: s.dbUrl })
  await sqlc.connect()
})
afterAll(async () => {
  await sqlc?.end()
  await s?.close()
})

const audit = async (query = '') => {
  const r = await s.api('GET', `/api/admin/audit${query}`)
  expect(r.status).toBe(200)
  return r.body as { items: any[]; nextCursor: string | null; page: number; perPage: number }
}

describe('the audit log records every admin action', () => {
  it('schema changes: create, update (only what changed), delete, each with actor and target', async () => {
    const def = { name: 'audited', fields: [{ name: 'title', type: 'text' }] }
    expect((await s.api('POST', '/api/collections', def)).status).toBe(201)
    const patch = { rules: { list: '', view: '' } }
    expect((await s.api('PATCH', '/api/collections/audited', patch)).status).toBe(200)
    expect((await s.api('DELETE', '/api/collections/audited')).status).toBe(204)

    const { items } = await audit('?target=audited')
    expect(items.map((e) => e.action)).toEqual([
      'collection.delete',
      'collection.update',
      'collection.create',
    ])
    for (const e of items) expect(e.actor).toBe('admin')
    const [deleted, updated, created] = items
    expect(created.diff.after.fields.map((f: any) => f.name)).toContain('title')
    expect(created.diff.before).toBeUndefined()
    expect(updated.diff.after.rules).toMatchObject({ list: '', view: '' })
    expect(updated.diff.before.rules).toMatchObject({ list: null, view: null })
    // Unchanged properties are not part of the diff.
    expect(updated.diff.after.fields).toBeUndefined()
    expect(updated.diff.after.name).toBeUndefined()
    expect(deleted.diff.before.name).toBe('audited')
    expect(deleted.diff.after).toBeUndefined()
  })

  it('a refused schema change leaves no entry (the entry is part of its transaction)', async () => {
    const before = (await audit('?action=collection.*')).items.length
    const bad = { name: 'broken', fields: [{ name: 'x', type: 'text' }], rules: { list: 'nope ===' } }
    expect((await s.api('POST', '/api/collections', bad)).status).toBe(400)
    expect((await audit('?action=collection.*')).items.length).toBe(before)
  })

  it('keys minted and revoked, by whom, never with the secret', async () => {
    const created = await s.api('POST', '/api/admin/keys', {
      name: 'ci',
      scopes: ['records:read', 'records:write'],
    })
    expect(created.status).toBe(201)
    const minter = await createKey(s, ['records:read', 'records:write', 'keys'])
    const minterId = (await s.api('GET', '/api/admin/keys')).body.items.find((k: any) =>
      minter.startsWith(k.prefix),
    ).id
    const byKey = await s.api(
      'POST',
      '/api/admin/keys',
      { name: 'child', scopes: ['records:read'] },
      { as: minter },
    )
    expect(byKey.status).toBe(201)
    expect((await s.api('DELETE', `/api/admin/keys/${created.body.id}`)).status).toBe(204)

    const made = (await audit(`?target=${created.body.id}`)).items
    expect(made.map((e) => e.action)).toEqual(['key.revoke', 'key.create'])
    expect(made[1].diff.after).toEqual({
      name: 'ci',
      prefix: created.body.prefix,
      scopes: ['records:read', 'records:write'],
      expires: null,
    })
    expect(made[0].diff.before).toMatchObject({ name: 'ci', prefix: created.body.prefix })
    const child = (await audit(`?target=${byKey.body.id}`)).items
    expect(child).toHaveLength(1)
    expect(child[0].actor).toBe(`key:${minterId}`)
    const { rows } = await sqlc.query('SELECT hash FROM bastide.api_keys WHERE id = $1', [created.body.id])
    const everything = JSON.stringify((await audit('?action=key.*&perPage=200')).items)
    expect(everything).not.toContain(created.body.key)
    expect(everything).not.toContain(rows[0].hash)
  })
  it('bucket and channel definition changes, with what changed', async () => {
    const bucket = { name: 'docs', rules: { read: '' } }
    expect((await s.api('POST', '/api/storage/buckets', bucket)).status).toBe(201)
    expect((await s.api('PATCH', '/api/storage/buckets/docs', { maxFileSize: 2048 })).status).toBe(200)
    expect((await s.api('DELETE', '/api/storage/buckets/docs')).status).toBe(204)
    const b = (await audit('?target=docs')).items
    expect(b.map((e) => e.action)).toEqual(['bucket.delete', 'bucket.update', 'bucket.create'])
    expect(b[1].diff.before.maxFileSize).toBeNull()
    expect(b[1].diff.after.maxFileSize).toBe(2048)
    expect(b[1].diff.after.rules).toBeUndefined()
    expect(b[2].diff.after.rules).toEqual({ read: '', write: null, delete: null })

    const ch = await s.api('POST', '/api/realtime/channels', { pattern: 'room:*', rules: { join: '' } })
    expect(ch.status).toBe(201)
    expect((await s.api('PATCH', `/api/realtime/channels/${ch.body.id}`, { presence: false })).status).toBe(
      200,
    )
    expect((await s.api('DELETE', `/api/realtime/channels/${ch.body.id}`)).status).toBe(204)
    const c = (await audit(`?target=${ch.body.id}`)).items
    expect(c.map((e) => e.action)).toEqual(['channel.delete', 'channel.update', 'channel.create'])
    expect(c[1].diff).toMatchObject({ before: { presence: true }, after: { presence: false } })
    expect(c[2].diff.after.pattern).toBe('room:*')
    // A refused change (a duplicate pattern) records nothing.
    const again = await s.api('POST', '/api/realtime/channels', { pattern: 'lobby', rules: {} })
    expect(again.status).toBe(201)
    expect((await s.api('POST', '/api/realtime/channels', { pattern: 'lobby', rules: {} })).status).toBe(409)
    expect(
      (await audit('?action=channel.create')).items.filter((e) => e.diff.after.pattern === 'lobby'),
    ).toHaveLength(1)
  })
})

describe('GET /api/admin/audit', () => {
  it('filters by actor, action (exact or prefix), target and time', async () => {
    await sqlc.query(
      `INSERT INTO bastide.audit_log (at, actor, action, target) VALUES
        ('2020-01-01T00:00:00Z', 'admin:old', 'user.ban', 't1'),
        ('2020-01-02T00:00:00Z', 'admin:old', 'user.unban', 't1'),
        ('2020-01-03T00:00:00Z', 'admin:other', 'user.ban', 't2')`,
    )
    expect((await audit('?actor=admin:old')).items.map((e) => e.action)).toEqual(['user.unban', 'user.ban'])
    expect((await audit('?action=user.ban&until=2020-12-31T00:00:00Z')).items.map((e) => e.target)).toEqual([
      't2',
      't1',
    ])
    expect((await audit('?action=user.*&actor=admin:old&target=t1')).items).toHaveLength(2)
    const window = await audit('?since=2020-01-02T00:00:00Z&until=2020-01-03T00:00:00Z')
    expect(window.items.map((e) => e.action)).toEqual(['user.unban'])
    // `_` and `%` in a prefix are literal.
    expect((await audit('?action=user_*')).items).toHaveLength(0)
  })

  it('walks the whole log with a cursor, even while it grows', async () => {
    const all = (await audit('?perPage=200')).items.map((e) => e.seq)
    const seen: number[] = []
    let cursor: string | null = null
    let first = true
    do {
      const page = await audit(`?perPage=2${cursor ? `&cursor=${cursor}` : ''}`)
      seen.push(...page.items.map((e) => e.seq))
      if (first) {
        // A newer entry arriving meanwhile neither shifts nor repeats what the cursor returns.
        await s.api('POST', '/api/admin/keys', { name: 'meanwhile', scopes: ['records:read'] })
        first = false
      }
      cursor = page.nextCursor
    } while (cursor)
    expect(seen).toEqual(all)
  })

  it('answers 400 to a bad query, and only console admins may read it', async () => {
    for (const q of [
      '?since=yesterday',
      '?cursor=abc',
      '?cursor=5&page=2',
      '?perPage=1000',
      `?actor=${'x'.repeat(201)}`,
    ]) {
      const r = await s.api('GET', `/api/admin/audit${q}`)
      expect(r.status, q).toBe(400)
      expect(r.body.code).toBeTypeOf('string')
    }
    expect((await s.api('GET', '/api/admin/audit', undefined, { as: 'anon' })).status).toBe(401)
    const user = await signUp(s, 'curious@example.com')
    expect((await s.api('GET', '/api/admin/audit', undefined, { as: user.token })).status).toBe(403)
    const key = await createKey(s, [...SCOPES])
    expect((await s.api('GET', '/api/admin/audit', undefined, { as: key })).status).toBe(403)
  })

  it('deletes entries past BASTIDE_AUDIT_RETENTION_DAYS when its job runs', async () => {
    await sqlc.query(
      `INSERT INTO bastide.audit_log (at, actor, action, target) VALUES (now() - interval '31 days', 'admin', 'user.ban', 'ancient'), (now() - interval '29 days', 'admin', 'user.ban', 'recent')`,
    )
    await s.bastide.scheduler.runNow('audit', 'purge-old-entries')
    expect((await audit('?target=ancient')).items).toHaveLength(0)
    expect((await audit('?target=recent')).items).toHaveLength(1)
  })
})

it('a bad BASTIDE_AUDIT_RETENTION_DAYS stops the start before anything runs, naming the variable', async () => {
  const config = loadConfig({
    DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
    BASTIDE_AUDIT_RETENTION_DAYS: 'soon',
    BASTIDE_LOG_LEVEL: 'silent',
  })
  const err = await startBastide(config, { listen: false }).catch((e) => e)
  expect(err).toBeInstanceOf(ConfigError)
  expect((err as ConfigError).issues.map((i) => i.variable)).toEqual(['BASTIDE_AUDIT_RETENTION_DAYS'])
})
