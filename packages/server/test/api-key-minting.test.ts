import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './support/harness.ts'

/**
 * A key with the `keys` scope mints keys, but never one that outranks it (more scopes) or outlives it (a
 * later expiry, or none while it expires). The admin key has every scope and no expiry.
 */
let s: TestServer
let sqlc: pg.Client

beforeAll(async () => {
  s = await startTestServer()
  sqlc = new pg.Client({ connectionString: s.dbUrl })
  await sqlc.connect()
})
afterAll(async () => {
  await sqlc?.end()
  await s?.close()
})

const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString()

async function mint(body: Record<string, unknown>, as = 'admin') {
  return s.api('POST', '/api/admin/keys', { name: 'minted', ...body }, { as })
}

describe('minting keys with a key', () => {
  it('grants only scopes the minting key holds', async () => {
    const parent = await mint({ scopes: ['keys', 'records:read'] })
    expect(parent.status).toBe(201)
    const stronger = await mint({ scopes: ['records:read', 'records:write'] }, parent.body.key)
    expect(stronger.status).toBe(403)
    expect(stronger.body).toMatchObject({ code: 'FORBIDDEN' })
    expect(stronger.body.message).toContain('records:write')
    const same = await mint({ scopes: ['records:read'] }, parent.body.key)
    expect(same.status).toBe(201)
    expect(same.body.scopes).toEqual(['records:read'])
  })

  it('never outlives an expiring minter: no expiry means its expiry, a later one is refused', async () => {
    const parent = await mint({ scopes: ['keys', 'records:read'], expires: inHours(1) })
    expect(parent.status).toBe(201)
    const parentExpires: string = parent.body.expires
    expect(Date.parse(parentExpires)).toBeGreaterThan(Date.now())

    const unbounded = await mint({ scopes: ['records:read'] }, parent.body.key)
    expect(unbounded.status).toBe(201)
    expect(unbounded.body.expires).toBe(parentExpires)

    const later = await mint({ scopes: ['records:read'], expires: inHours(2) }, parent.body.key)
    expect(later.status).toBe(403)
    expect(later.body.message).toContain(parentExpires)

    const sooner = inHours(0.5)
    const shorter = await mint({ scopes: ['records:read'], expires: sooner }, parent.body.key)
    expect(shorter.status).toBe(201)
    expect(Date.parse(shorter.body.expires)).toBe(Date.parse(sooner))

    // What was stored is what was answered.
    const rows = await sqlc.query('SELECT id, expires FROM bastide.api_keys WHERE id = ANY($1)', [
      [unbounded.body.id, shorter.body.id],
    ])
    for (const r of rows.rows) expect(r.expires).not.toBeNull()
  })

  it('lets keys without expiry, and the admin key, mint keys without expiry', async () => {
    const byAdmin = await mint({ scopes: ['keys', 'records:read'] })
    expect(byAdmin.status).toBe(201)
    expect(byAdmin.body.expires).toBeNull()
    const byKey = await mint({ scopes: ['records:read'] }, byAdmin.body.key)
    expect(byKey.status).toBe(201)
    expect(byKey.body.expires).toBeNull()
    const far = inHours(24 * 365)
    const bounded = await mint({ scopes: ['records:read'], expires: far }, byAdmin.body.key)
    expect(Date.parse(bounded.body.expires)).toBe(Date.parse(far))
  })

  it('checks the minting key as it is now, and refuses expiries in the past', async () => {
    const parent = await mint({ scopes: ['keys', 'records:read'], expires: inHours(1) })
    // It authenticated a moment ago; it expires before it mints.
    expect((await s.api('GET', '/api/admin/keys', undefined, { as: parent.body.key })).status).toBe(200)
    await sqlc.query(`UPDATE bastide.api_keys SET expires = now() - interval '1 second' WHERE id = $1`, [
      parent.body.id,
    ])
    const late = await mint({ scopes: ['records:read'] }, parent.body.key)
    expect(late.status).toBe(401)

    const past = await mint({ scopes: ['records:read'], expires: inHours(-1) })
    expect(past.status).toBe(400)
    expect(past.body.details.fields.expires).toBeDefined()
  })
})

describe('revoking keys with a key', () => {
  const EVERY = ['schema', 'records:read', 'records:write', 'storage:read', 'storage:write', 'keys']
  const usable = async (key: string) =>
    (await s.api('GET', '/api/collections/users/records', undefined, { as: key })).status

  it('revokes only keys whose scopes are among its own', async () => {
    const strong = await mint({ scopes: EVERY })
    const revoker = await mint({ scopes: ['keys', 'records:read', 'schema'] })
    const weak = await mint({ scopes: ['records:read'] })
    expect(await usable(strong.body.key)).toBe(200)
    expect(await usable(weak.body.key)).toBe(200)

    const refused = await s.api('DELETE', `/api/admin/keys/${strong.body.id}`, undefined, {
      as: revoker.body.key,
    })
    expect(refused.status).toBe(403)
    expect(refused.body).toMatchObject({ code: 'FORBIDDEN', status: 403 })
    expect(await usable(strong.body.key)).toBe(200)

    const done = await s.api('DELETE', `/api/admin/keys/${weak.body.id}`, undefined, { as: revoker.body.key })
    expect(done.status).toBe(204)
    expect(await usable(weak.body.key)).toBe(401)
    // Gone is gone, whoever asks.
    const again = await s.api('DELETE', `/api/admin/keys/${weak.body.id}`, undefined, {
      as: revoker.body.key,
    })
    expect(again.status).toBe(404)
    // Not an id at all: no such key either.
    const bogus = await s.api('DELETE', `/api/admin/keys/${'-'.repeat(36)}`, undefined, {
      as: revoker.body.key,
    })
    expect(bogus.status).toBe(404)
    expect(bogus.body).toMatchObject({ code: 'NOT_FOUND' })
  })

  it('cannot revoke the key that minted it, but can revoke itself; the admin key revokes anything', async () => {
    const parent = await mint({ scopes: ['keys', 'records:read', 'records:write'] })
    const child = await mint({ scopes: ['keys', 'records:read'] }, parent.body.key)
    expect(child.status).toBe(201)
    const up = await s.api('DELETE', `/api/admin/keys/${parent.body.id}`, undefined, { as: child.body.key })
    expect(up.status).toBe(403)
    expect(await usable(parent.body.key)).toBe(200)

    const self = await s.api('DELETE', `/api/admin/keys/${child.body.id}`, undefined, { as: child.body.key })
    expect(self.status).toBe(204)
    expect(await usable(child.body.key)).toBe(401)

    expect((await s.api('DELETE', `/api/admin/keys/${parent.body.id}`)).status).toBe(204)
    expect(await usable(parent.body.key)).toBe(401)
  })
})
