import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryStorage } from '../src/index.ts'
import { eventLog, PASSWORD, recordingFetch } from './support/auth.ts'
import { clientFor, createCollection, email, startServer, type TestServer } from './support/server.ts'

/** The shortest access JWT lifetime the server allows: these tests wait for one to expire. */
const TTL_S = 30
const REFRESH = '/api/auth/session/refresh'
const NOTES = '/api/collections/notes/records'

let s: TestServer & { url: string }
beforeAll(async () => {
  s = await startServer({ BASTIDE_ACCESS_TOKEN_TTL: String(TTL_S) })
  await createCollection(s, {
    name: 'notes',
    fields: [{ name: 'text', type: 'text' }],
    rules: { list: '@request.auth.id != ""', view: '', create: '', update: '', delete: '' },
  })
})
afterAll(() => s?.close())

describe('access JWT expiry', () => {
  it('refreshes across expiry: ahead of it on a timer, on demand once for 20 callers, and after a 401', async () => {
    // A: no timer; calls made after expiry must refresh first, exactly once for all of them.
    const recA = recordingFetch()
    const a = clientFor(s, { fetch: recA.fetch, autoRefresh: false })
    const addr = email('ttl')
    const first = (await a.auth.signUp({ email: addr, password: PASSWORD, name: 'T' })).session!
    expect(Date.parse(first.accessTokenExpiresAt) - Date.now()).toBeLessThanOrEqual(TTL_S * 1000)

    // B: the timer refreshes ahead of expiry without any call.
    const recB = recordingFetch()
    const b = clientFor(s, { fetch: recB.fetch })
    const bFirst = (await b.auth.signInWithPassword({ email: addr, password: PASSWORD })).session!
    const bLog = eventLog()
    b.auth.onAuthStateChange(bLog.listener)

    // C: a client whose clock says the JWT is still good (stored expiry in the future): the server's 401
    // triggers the refresh, shared by 20 callers, and each call is retried once.
    const storageC = memoryStorage()
    const recC = recordingFetch()
    const cSeed = clientFor(s, { storage: storageC })
    const cFirst = (await cSeed.auth.signInWithPassword({ email: addr, password: PASSWORD })).session!
    await cSeed.close()
    storageC.setItem(
      'bastide.session',
      JSON.stringify({ ...cFirst, accessTokenExpiresAt: new Date(Date.now() + 3_600_000).toISOString() }),
    )

    const expiry = Math.max(Date.parse(first.accessTokenExpiresAt), Date.parse(cFirst.accessTokenExpiresAt))
    // The server accepts a JWT up to 5 s past its `exp` (clock tolerance).
    await new Promise((r) => setTimeout(r, expiry - Date.now() + 6500))
    // The old JWT is refused by the server now.
    const stale = await fetch(`${s.url}${NOTES}`, {
      headers: { authorization: `Bearer ${first.accessToken}` },
    })
    expect(stale.status).toBe(401)

    // B refreshed on its own before expiry.
    expect(recB.count(REFRESH)).toBeGreaterThanOrEqual(1)
    expect(recB.calls.filter((x) => x.path === NOTES)).toHaveLength(0)
    expect(bLog.names()).toContain('TOKEN_REFRESHED')
    expect(b.auth.session!.token).not.toBe(bFirst.token)
    expect(Date.parse(b.auth.session!.accessTokenExpiresAt)).toBeGreaterThan(
      Date.parse(bFirst.accessTokenExpiresAt),
    )
    expect((await b.collection('notes').list()).items).toEqual([])

    recA.reset()
    const pages = await Promise.all(Array.from({ length: 20 }, () => a.collection('notes').list()))
    expect(pages.every((p) => Array.isArray(p.items))).toBe(true)
    expect(recA.count(REFRESH)).toBe(1)
    // Refreshed before sending: no request went out with the expired token.
    const sent = recA.calls.filter((x) => x.path === NOTES)
    expect(sent).toHaveLength(20)
    expect(sent.every((x) => x.status === 200 && x.authorization !== `Bearer ${first.accessToken}`)).toBe(
      true,
    )
    expect(a.auth.session!.token).not.toBe(first.token)

    const c = clientFor(s, { storage: storageC, fetch: recC.fetch, autoRefresh: false })
    const results = await Promise.all(Array.from({ length: 20 }, () => c.collection('notes').list()))
    expect(results).toHaveLength(20)
    expect(recC.count(REFRESH)).toBe(1)
    const cSent = recC.calls.filter((x) => x.path === NOTES)
    expect(cSent.filter((x) => x.status === 401)).toHaveLength(20)
    expect(cSent.filter((x) => x.status === 200)).toHaveLength(20)
    // The rotated token is what the storage holds now.
    const stored = JSON.parse(storageC.getItem('bastide.session') as string)
    expect(stored.token).toBe(c.auth.session!.token)
    expect(stored.token).not.toBe(cFirst.token)

    await a.close()
    await b.close()
    await c.close()
  }, 90_000)

  it('takes the session another client on the same storage refreshed (a second tab), instead of signing out', async () => {
    const storage = memoryStorage()
    const tab1 = clientFor(s, { storage, autoRefresh: false })
    const { session } = await tab1.auth.signUp({ email: email('tabs'), password: PASSWORD, name: 'T' })
    const tab2 = clientFor(s, { storage, autoRefresh: false })
    expect(tab2.auth.session?.token).toBe(session!.token)
    const log = eventLog()
    tab2.auth.onAuthStateChange(log.listener)
    const fromTab1 = await tab1.auth.refresh()
    // tab2 still holds the old token: its refresh gets 401, finds tab1's session in the storage.
    const fromTab2 = await tab2.auth.refresh()
    expect(fromTab2.token).toBe(fromTab1.token)
    expect(tab2.auth.session?.token).toBe(fromTab1.token)
    expect(log.names()).toEqual(['INITIAL_SESSION', 'TOKEN_REFRESHED'])
    expect((await tab2.collection('notes').list()).items).toEqual([])
  })
})
