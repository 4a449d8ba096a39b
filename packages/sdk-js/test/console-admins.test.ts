import { freshCodes, wrongCode } from '@bastide/server/test/support/totp.ts'
import * as OTPAuth from 'otpauth'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError, memoryStorage } from '../src/index.ts'
import { ADMIN_KEY, clientFor, startServer, type TestServer } from './support/server.ts'

/** client.admin.admins and the console admin's own passkeys and sessions, against a real server. */

let s: TestServer & { url: string }
const ROOT = { email: 'root@sdk-console.test', password: 'granite lantern over the harbour' }

beforeAll(async () => {
  s = await startServer()
  const r = await fetch(`${s.url}/api/admin/setup`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(ROOT),
  })
  expect(r.status).toBe(201)
})
afterAll(() => s?.close())

async function signedIn(who = ROOT) {
  const c = clientFor(s, { console: true, storage: memoryStorage() })
  const r = await c.admin.auth.signIn(who)
  expect(r.twoFactorRequired).toBe(false)
  return c
}

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  )

describe('client.admin.admins', () => {
  it('lists, adds and removes admins; the server’s refusals arrive as BastideErrors', async () => {
    const c = await signedIn()
    const page = await c.admin.admins.list()
    expect(page).toMatchObject({ page: 1, totalItems: 1 })
    expect(page.items[0]).toMatchObject({ email: ROOT.email, twoFactorEnabled: false, passkeys: 0 })

    const ada = await c.admin.admins.create({
      email: 'ada@sdk-console.test',
      password: 'quartz meadow under the lighthouse',
      name: 'Ada',
    })
    expect(ada).toMatchObject({ email: 'ada@sdk-console.test', name: 'Ada', lastSignIn: null })
    expect((await c.admin.admins.get(ada.id)).email).toBe(ada.email)
    expect((await c.admin.admins.list({ page: 2, perPage: 1 })).items.map((a) => a.email)).toEqual([
      ada.email,
    ])

    const taken = await errorOf(
      c.admin.admins.create({ email: ada.email, password: 'another long passphrase' }),
    )
    expect(taken).toBeInstanceOf(BastideError)
    expect(taken).toMatchObject({ code: 'CONFLICT', status: 409 })
    const weak = await errorOf(c.admin.admins.create({ email: 'weak@sdk-console.test', password: 'short' }))
    expect(weak).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })

    const self = await errorOf(c.admin.admins.remove(page.items[0]!.id))
    expect(self).toMatchObject({ code: 'BAD_REQUEST', status: 400 })
    await c.admin.admins.remove(ada.id)
    expect(await errorOf(c.admin.admins.get(ada.id))).toMatchObject({ code: 'NOT_FOUND', status: 404 })
  })
})

describe('client.admin.auth: passkeys and sessions', () => {
  it('lists no passkey at first; removing an unknown one is refused', async () => {
    const c = await signedIn()
    expect(await c.admin.auth.listPasskeys()).toEqual([])
    const e = await errorOf(c.admin.auth.removePasskey('no-such-passkey'))
    expect(e).toBeInstanceOf(BastideError)
    expect((e as BastideError).status).toBeGreaterThanOrEqual(400)
  })

  it('refuses a passkey sign-in whose ceremony was cancelled, with PASSKEY_CANCELLED and no session', async () => {
    const c = clientFor(s, { console: true, storage: memoryStorage() })
    const e = await errorOf(
      c.admin.auth.signInWithPasskey({
        getCredential: async () => {
          throw new BastideError({
            code: 'PASSKEY_CANCELLED',
            status: 0,
            message: 'No credential was chosen.',
          })
        },
      }),
    )
    expect(e).toMatchObject({ code: 'PASSKEY_CANCELLED' })
    expect(c.admin.auth.session).toBeNull()
  })

  it('lists the admin’s sessions by id (no token), and ends one; ending this client’s own signs it out', async () => {
    const here = await signedIn()
    const there = await signedIn()
    const sessions = await here.admin.auth.listSessions()
    expect(sessions.length).toBeGreaterThanOrEqual(2)
    expect(sessions.filter((x) => x.current)).toHaveLength(1)
    expect(JSON.stringify(sessions)).not.toContain(here.admin.auth.session!.token.split('.')[0]!)
    const theirs = (await there.admin.auth.listSessions()).find((x) => x.current)!
    expect(sessions.find((x) => x.id === theirs.id)?.current).toBe(false)
    await here.admin.auth.revokeSession(theirs.id)
    expect(here.admin.auth.session).not.toBeNull()
    expect(await errorOf(there.admin.admins.list())).toMatchObject({ status: 401 })
    const mine = (await here.admin.auth.listSessions()).find((x) => x.current)!
    await here.admin.auth.revokeSession(mine.id)
    expect(here.admin.auth.session).toBeNull()
    const unknown = await errorOf((await signedIn()).admin.auth.revokeSession('no-such-session'))
    expect(unknown).toMatchObject({ status: 404 })
  })

  it('signs out everywhere: every session of the admin ends, here and on other devices', async () => {
    const here = await signedIn()
    const there = await signedIn()
    expect((await there.admin.admins.list()).totalItems).toBeGreaterThanOrEqual(1)
    await here.admin.auth.signOutEverywhere()
    expect(here.admin.auth.session).toBeNull()
    const e = await errorOf(there.admin.admins.list())
    expect(e).toMatchObject({ status: 401 })
    expect(there.admin.auth.session).toBeNull()
  })
})

describe('client.admin.auth: TOTP of the signed-in admin', () => {
  it('stays signed in through turning TOTP on and off (the server replaces the session each time)', async () => {
    const who = { email: 'totp@sdk-console.test', password: 'amber orchard beyond the river' }
    await (await signedIn()).admin.admins.create(who)
    const c = await signedIn(who)
    const { totpURI, backupCodes } = await c.admin.auth.enableTotp(who.password)
    expect(backupCodes.length).toBeGreaterThan(0)
    const totp = OTPAuth.URI.parse(totpURI) as OTPAuth.TOTP
    const code = freshCodes(totp)
    // A wrong first code is refused, and the admin stays signed in (a typo is not a revoked session).
    const wrong = await errorOf(c.admin.auth.confirmTotp(wrongCode(totp)))
    expect(wrong).toMatchObject({ status: 401 })
    expect(c.admin.auth.session).not.toBeNull()
    expect((await c.admin.admins.list()).totalItems).toBeGreaterThanOrEqual(2)
    const before = c.admin.auth.session!.token
    await c.admin.auth.confirmTotp(await code())
    expect(c.admin.auth.session?.token).not.toBe(before)
    expect(c.admin.auth.session?.admin.twoFactorEnabled).toBe(true)
    // The new token works; the next sign-in asks for a code.
    expect((await c.admin.admins.list()).items.find((a) => a.email === who.email)?.twoFactorEnabled).toBe(
      true,
    )
    const other = clientFor(s, { console: true, storage: memoryStorage() })
    expect((await other.admin.auth.signIn(who)).twoFactorRequired).toBe(true)
    await other.admin.auth.verifyTotp(await code())
    expect(other.admin.auth.session?.admin.email).toBe(who.email)

    const renewed = await c.admin.auth.generateBackupCodes(who.password)
    expect(renewed.backupCodes).toHaveLength(backupCodes.length)
    expect(renewed.backupCodes).not.toEqual(backupCodes)

    await c.admin.auth.disableTotp(who.password)
    expect(c.admin.auth.session?.admin.twoFactorEnabled).toBe(false)
    expect((await c.admin.admins.list()).totalItems).toBeGreaterThanOrEqual(2)
    expect(
      (await clientFor(s, { console: true, storage: memoryStorage() }).admin.auth.signIn(who))
        .twoFactorRequired,
    ).toBe(false)
  })
})
