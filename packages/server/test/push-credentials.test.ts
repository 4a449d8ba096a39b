import { createECDH, generateKeyPairSync } from 'node:crypto'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPushCredentials } from '../src/core/push/credentials.ts'
import { createKey, startTestServer, TEST_SECRET, type TestServer } from './support/harness.ts'

/**
 * /api/admin/push/credentials: validated per provider (keys must parse as keys), sealed at rest with a key of their
 * own, never shown again, kept on partial updates, and loaded decrypted for the senders.
 */
let s: TestServer

beforeAll(async () => {
  s = await startTestServer()
})
afterAll(() => s?.close())

const pem = (type: 'ec' | 'rsa') =>
  (type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 })
  ).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
const p8 = pem('ec')
const rsa = pem('rsa')
const serviceAccount = (o: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'service_account',
    project_id: 'demo-project',
    private_key_id: 'abc',
    private_key: rsa,
    client_email: 'push@demo-project.iam.gserviceaccount.com',
    token_uri: 'https://oauth2.googleapis.com/token',
    ...o,
  })
const put = (provider: string, body: unknown, as = 'admin') =>
  s.api('PUT', `/api/admin/push/credentials/${provider}`, body, { as })
/** The stored rows as PostgreSQL has them: config text and secret bytes. */
const rows = async () =>
  (
    await sql<{ provider: string; config: string; secret: Buffer }>`
      SELECT provider, config::text AS config, secret FROM bastide.push_credentials`.execute(
      s.bastide.database.db,
    )
  ).rows
/** A PEM's base64 body lines: any of them in a row would be the key in clear. */
const pemLines = (p: string) => p.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))
const credentials = () => createPushCredentials({ db: s.bastide.database.db, secret: TEST_SECRET })

describe('credentials', () => {
  it('starts with nothing configured; config offers UnifiedPush only', async () => {
    const r = await s.api('GET', '/api/admin/push/credentials')
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ apns: null, fcm: null, webpush: null })
    const c = await s.api('GET', '/api/push/config', undefined, { as: 'anon' })
    expect(c.body).toEqual({ providers: ['unifiedpush'], vapidPublicKey: null })
  })

  it('stores APNs credentials sealed, shows only the public part, and keeps the key on an update without it', async () => {
    const r = await put('apns', {
      teamId: 'TEAM123456',
      keyId: 'KEY1234567',
      privateKey: p8,
      bundleId: 'com.example.app',
    })
    expect(r.status).toBe(200)
    expect(r.body.apns).toEqual({
      teamId: 'TEAM123456',
      keyId: 'KEY1234567',
      bundleId: 'com.example.app',
      updatedAt: expect.any(String),
    })
    expect(JSON.stringify(r.body)).not.toContain('PRIVATE KEY')
    const [row] = (await rows()).filter((x) => x.provider === 'apns')
    const bytes = Buffer.concat([Buffer.from(row!.config), row!.secret])
    for (const line of pemLines(p8)) expect(bytes.includes(line)).toBe(false)
    expect(bytes.includes('PRIVATE KEY')).toBe(false)
    expect((await credentials().load()).apns).toEqual({
      teamId: 'TEAM123456',
      keyId: 'KEY1234567',
      bundleId: 'com.example.app',
      privateKey: p8,
    })
    // A new key id without the key: the stored key stays.
    const again = await put('apns', {
      teamId: 'TEAM123456',
      keyId: 'KEY7654321',
      bundleId: 'com.example.other',
    })
    expect(again.status).toBe(200)
    expect(again.body.apns.keyId).toBe('KEY7654321')
    const loaded = await credentials().load()
    expect(loaded.apns).toMatchObject({ keyId: 'KEY7654321', bundleId: 'com.example.other', privateKey: p8 })
    const status = await s.api('GET', '/api/admin/push/credentials')
    expect(JSON.stringify(status.body)).not.toContain('PRIVATE KEY')
    expect((await s.api('GET', '/api/push/config', undefined, { as: 'anon' })).body.providers).toEqual([
      'apns',
      'unifiedpush',
    ])
  })

  it('refuses bad APNs input with a 400, and a first save without a key', async () => {
    await s.api('DELETE', '/api/admin/push/credentials/apns')
    const base = { teamId: 'TEAM123456', keyId: 'KEY1234567', bundleId: 'com.example.app' }
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, privateKey: 'not a pem' }, 'privateKey'],
      [
        { ...base, privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' },
        'privateKey',
      ],
      [{ ...base, privateKey: rsa }, 'privateKey'],
      [{ ...base, privateKey: pem('ec').replace('PRIVATE KEY', 'PUBLIC KEY') }, 'privateKey'],
      [{ ...base, teamId: 'short', privateKey: p8 }, 'teamId'],
      [{ ...base, keyId: 'lowercase1', privateKey: p8 }, 'keyId'],
      [{ ...base, bundleId: '', privateKey: p8 }, 'bundleId'],
      [{ ...base, privateKey: p8, extra: true }, 'body'],
      [base, 'privateKey'],
    ]
    for (const [body, field] of cases) {
      const r = await put('apns', body)
      expect(r.status, field).toBe(400)
      expect(Object.keys(r.body.details.fields), field).toContain(field)
    }
    expect((await s.api('GET', '/api/admin/push/credentials')).body.apns).toBeNull()
    expect((await put('carrier-pigeon', {})).status).toBe(404)
  })

  it('stores an FCM service account, checking it is JSON with an RSA key and a token URL', async () => {
    const r = await put('fcm', { serviceAccount: serviceAccount() })
    expect(r.status).toBe(200)
    expect(r.body.fcm).toEqual({
      projectId: 'demo-project',
      clientEmail: 'push@demo-project.iam.gserviceaccount.com',
      updatedAt: expect.any(String),
    })
    const [row] = (await rows()).filter((x) => x.provider === 'fcm')
    const bytes = Buffer.concat([Buffer.from(row!.config), row!.secret])
    for (const line of pemLines(rsa)) expect(bytes.includes(line)).toBe(false)
    expect((await credentials().load()).fcm).toEqual({
      project_id: 'demo-project',
      client_email: 'push@demo-project.iam.gserviceaccount.com',
      private_key: rsa,
      token_uri: 'https://oauth2.googleapis.com/token',
    })
    const bad: [unknown, string][] = [
      [{ serviceAccount: '{not json' }, 'serviceAccount'],
      [{ serviceAccount: serviceAccount({ private_key: p8 }) }, 'serviceAccount.private_key'],
      [{ serviceAccount: serviceAccount({ private_key: 'nope' }) }, 'serviceAccount.private_key'],
      [{ serviceAccount: serviceAccount({ token_uri: 'ftp://x' }) }, 'serviceAccount.token_uri'],
      [{ serviceAccount: serviceAccount({ project_id: undefined }) }, 'serviceAccount.project_id'],
      [{}, 'serviceAccount'],
    ]
    for (const [body, field] of bad) {
      const res = await put('fcm', body)
      expect(res.status, field).toBe(400)
      expect(Object.keys(res.body.details.fields), field).toContain(field)
    }
    // A refused update leaves the stored account as it was.
    expect((await credentials().load()).fcm?.private_key).toBe(rsa)
    // The token endpoint receives a signed assertion and is called by the server: https only.
    const plainHttp = await put('fcm', {
      serviceAccount: serviceAccount({ token_uri: 'http://127.0.0.1:9/token' }),
    })
    expect(plainHttp.status).toBe(400)
    expect(Object.keys(plainHttp.body.details.fields)).toContain('serviceAccount.token_uri')
    // An https one on loopback is stored (the sender refuses it at request time unless BASTIDE_PUSH_ALLOW_HOSTS lists it).
    expect(
      (await put('fcm', { serviceAccount: serviceAccount({ token_uri: 'https://127.0.0.1:9/token' }) }))
        .status,
    ).toBe(200)
  })

  it('generates a VAPID pair when given none, and accepts a matching pair only', async () => {
    const r = await put('webpush', { subject: 'mailto:ops@example.com' })
    expect(r.status).toBe(200)
    const publicKey: string = r.body.webpush.publicKey
    const raw = Buffer.from(publicKey, 'base64url')
    expect(raw.length).toBe(65)
    expect(raw[0]).toBe(4)
    expect(Object.keys(r.body.webpush).sort()).toEqual(['publicKey', 'subject', 'updatedAt'])
    const loaded = (await credentials().load()).webpush!
    expect(loaded.publicKey).toBe(publicKey)
    expect(Buffer.from(loaded.privateKey, 'base64url').length).toBe(32)
    // The private key is the public key's.
    const ecdh = createECDH('prime256v1')
    ecdh.setPrivateKey(Buffer.from(loaded.privateKey, 'base64url'))
    expect(ecdh.getPublicKey('base64url')).toBe(publicKey)
    const [row] = (await rows()).filter((x) => x.provider === 'webpush')
    expect(Buffer.concat([Buffer.from(row!.config), row!.secret]).includes(loaded.privateKey)).toBe(false)
    const config = await s.api('GET', '/api/push/config', undefined, { as: 'anon' })
    expect(config.body.vapidPublicKey).toBe(publicKey)
    expect(config.body.providers).toContain('webpush')

    // A pair of one's own.
    const jwk = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'jwk' })
    const point = Buffer.concat([
      Buffer.from([4]),
      Buffer.from(jwk.x!, 'base64url'),
      Buffer.from(jwk.y!, 'base64url'),
    ])
    const pair = { publicKey: point.toString('base64url'), privateKey: jwk.d! }
    const own = await put('webpush', { subject: 'https://example.com/contact', ...pair })
    expect(own.status).toBe(200)
    expect(own.body.webpush.publicKey).toBe(pair.publicKey)
    expect((await credentials().load()).webpush?.privateKey).toBe(pair.privateKey)
    const other = createECDH('prime256v1')
    other.generateKeys()
    const bad: [unknown, string][] = [
      [{ subject: 'ops@example.com' }, 'subject'],
      [{ subject: 'http://example.com' }, 'subject'],
      [{ subject: 'mailto:ops@example.com', publicKey: pair.publicKey }, 'privateKey'],
      [{ subject: 'mailto:ops@example.com', privateKey: pair.privateKey }, 'publicKey'],
      [
        {
          subject: 'mailto:ops@example.com',
          publicKey: other.getPublicKey('base64url'),
          privateKey: pair.privateKey,
        },
        'privateKey',
      ],
      [{ subject: 'mailto:ops@example.com', publicKey: 'AAAA', privateKey: 'BBBB' }, 'privateKey'],
    ]
    for (const [body, field] of bad) {
      const res = await put('webpush', body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(Object.keys(res.body.details.fields), field).toContain(field)
    }
  })

  it('keeps the stored VAPID pair on a subject-only update, and makes a new one only when asked', async () => {
    const first = (await put('webpush', { subject: 'mailto:ops@example.com' })).body.webpush.publicKey
    const kept = await put('webpush', { subject: 'mailto:other@example.com' })
    expect(kept.status).toBe(200)
    expect(kept.body.webpush).toMatchObject({ subject: 'mailto:other@example.com', publicKey: first })
    const loaded = (await credentials().load()).webpush!
    const ecdh = createECDH('prime256v1')
    ecdh.setPrivateKey(Buffer.from(loaded.privateKey, 'base64url'))
    expect(ecdh.getPublicKey('base64url')).toBe(first)
    const fresh = await put('webpush', { subject: 'mailto:ops@example.com', regenerate: true })
    expect(fresh.status).toBe(200)
    expect(fresh.body.webpush.publicKey).not.toBe(first)
    const both = await put('webpush', {
      subject: 'mailto:ops@example.com',
      regenerate: true,
      publicKey: loaded.publicKey,
      privateKey: loaded.privateKey,
    })
    expect(both.status).toBe(400)
    expect(Object.keys(both.body.details.fields)).toContain('regenerate')
  })

  it('lets only console admins and BASTIDE_ADMIN_KEY change credentials; a push key reads them', async () => {
    const key = await createKey(s, ['push'])
    expect((await s.api('GET', '/api/admin/push/credentials', undefined, { as: key })).status).toBe(200)
    const before = (await s.api('GET', '/api/admin/push/credentials')).body
    for (const [method, provider] of [
      ['PUT', 'webpush'],
      ['DELETE', 'webpush'],
      ['PUT', 'fcm'],
      ['DELETE', 'apns'],
    ] as const) {
      const body =
        provider === 'fcm'
          ? { serviceAccount: serviceAccount({ token_uri: 'https://169.254.169.254/token' }) }
          : { subject: 'mailto:x@example.com', regenerate: true }
      const r = await s.api(
        method,
        `/api/admin/push/credentials/${provider}`,
        method === 'PUT' ? body : undefined,
        {
          as: key,
        },
      )
      expect(r.status, `${method} ${provider}`).toBe(403)
    }
    expect((await s.api('GET', '/api/admin/push/credentials')).body).toEqual(before)
    expect(
      (
        await s.api(
          'PUT',
          '/api/admin/push/credentials/webpush',
          { subject: 'mailto:x@example.com' },
          { as: 'anon' },
        )
      ).status,
    ).toBe(401)
  })

  it('changes version on every write, forgets removed providers, and opens nothing under another secret', async () => {
    const c = credentials()
    const before = await c.load()
    await c.set('webpush', { subject: 'mailto:ops@example.com', regenerate: true })
    const after = await c.load()
    expect(after.version).not.toBe(before.version)
    expect(after.webpush?.publicKey).not.toBe(before.webpush?.publicKey)
    const removed = await s.api('DELETE', '/api/admin/push/credentials/webpush')
    expect(removed.status).toBe(200)
    expect(removed.body.webpush).toBeNull()
    // Another node's cache catches up (within its re-check interval).
    await expect.poll(async () => (await c.load()).webpush).toBeUndefined()
    // Removing what is not there is fine.
    expect((await s.api('DELETE', '/api/admin/push/credentials/webpush')).status).toBe(200)
    // A different BASTIDE_SECRET opens nothing: those providers count as not configured.
    const foreign = createPushCredentials({
      db: s.bastide.database.db,
      secret: 'another-secret-0123456789-abcdefghijklmnop',
    })
    const f = await foreign.load()
    expect(f.apns).toBeUndefined()
    expect(f.fcm).toBeUndefined()
    // A sealed secret moved to another provider's row does not open there either (bound to its provider).
    const db = s.bastide.database.db
    await sql`INSERT INTO bastide.push_credentials (provider, config, secret)
      SELECT 'webpush', '{"subject":"mailto:x@example.com","publicKey":"x"}'::jsonb, secret
      FROM bastide.push_credentials WHERE provider = 'fcm'`.execute(db)
    expect((await credentials().load()).webpush).toBeUndefined()
    await sql`DELETE FROM bastide.push_credentials WHERE provider = 'webpush'`.execute(db)
  })

  it('records each change in the audit log, without its secret', async () => {
    const r = await s.api('GET', '/api/admin/audit')
    expect(r.status).toBe(200)
    const mine = r.body.items.filter((i: any) => String(i.action).startsWith('push.credentials.'))
    expect(mine.length).toBeGreaterThan(3)
    expect(mine.map((i: any) => i.target)).toEqual(expect.arrayContaining(['apns', 'fcm', 'webpush']))
    const text = JSON.stringify(mine)
    expect(text).not.toContain('PRIVATE KEY')
    for (const line of [...pemLines(p8), ...pemLines(rsa)]) expect(text).not.toContain(line)
  })
})
