import pg from 'pg'
import type { Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from './support/harness.ts'
import { connectRealtime } from './support/realtime-client.ts'

/**
 * A realtime connection opened with an API key lives only as long as the key: revoked or expired keys are
 * found by the periodic credential check (BASTIDE_REALTIME_SESSION_CHECK_MS) and their connections closed,
 * like a signed-out session's; other keys' connections stay.
 */
let s: TestServer
let sqlc: pg.Client
const sockets: Socket[] = []

beforeAll(async () => {
  s = await startTestServer({ listen: true, env: { BASTIDE_REALTIME_SESSION_CHECK_MS: '500' } })
  sqlc = new pg.Client({ connectionString: s.dbUrl })
  await sqlc.connect()
}, 60_000)

afterAll(async () => {
  for (const so of sockets) so.disconnect()
  await sqlc?.end()
  await s?.close()
})

async function mint(scopes: string[]): Promise<{ id: string; key: string }> {
  const r = await s.api('POST', '/api/admin/keys', { name: 'rt', scopes })
  expect(r.status).toBe(201)
  return r.body
}

const client = (token: string) => connectRealtime(s.bastide.url, token, sockets)

/** The `auth_error` a closing connection gets; the sweep runs every 500 ms, so 10 s is a generous bound. */
const ended = (so: Socket) =>
  new Promise<any>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the connection was not closed')), 10_000)
    so.once('auth_error', (e) => {
      clearTimeout(t)
      resolve(e)
    })
  })
const subscribe = (so: Socket) => so.timeout(5000).emitWithAck('subscribe', { collection: 'users' })

describe('API key connections', () => {
  it('are closed once their key is revoked; other keys stay connected', async () => {
    const doomed = await mint(['records:read'])
    const other = await mint(['records:read'])
    const a = await client(doomed.key)
    const b = await client(other.key)
    expect(await subscribe(a)).toMatchObject({ ok: true })
    expect(await subscribe(b)).toMatchObject({ ok: true })

    const end = ended(a)
    expect((await s.api('DELETE', `/api/admin/keys/${doomed.id}`)).status).toBe(204)
    expect(await end).toMatchObject({ code: 'SESSION_ENDED' })
    await expect.poll(() => a.connected).toBe(false)
    // The check that closed `a` looked at `b` too.
    expect(b.connected).toBe(true)
    expect(await subscribe(b)).toMatchObject({ ok: true })
  })

  it('are closed once their key expires', async () => {
    const k = await mint(['records:read'])
    const so = await client(k.key)
    const end = ended(so)
    await sqlc.query(`UPDATE bastide.api_keys SET expires = now() - interval '1 second' WHERE id = $1`, [
      k.id,
    ])
    expect(await end).toMatchObject({ code: 'SESSION_ENDED' })
    await expect.poll(() => so.connected).toBe(false)
  })
})
