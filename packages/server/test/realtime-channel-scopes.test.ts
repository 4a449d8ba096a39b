import type { Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKey, startTestServer, type TestServer } from './support/harness.ts'
import { connectRealtime } from './support/realtime-client.ts'

/**
 * API keys on realtime channels, end to end (the server's own gateway, keys resolved from the database):
 * `records:read` to join and listen, `records:write` to broadcast and publish presence; within those scopes a
 * key bypasses channel rules, as it bypasses collection rules.
 */
let s: TestServer
const sockets: Socket[] = []

beforeAll(async () => {
  s = await startTestServer({ listen: true })
  const open = await s.api('POST', '/api/realtime/channels', {
    pattern: 'open:*',
    rules: { join: '', send: '' },
  })
  expect(open.status).toBe(201)
}, 60_000)

afterAll(async () => {
  for (const so of sockets) so.disconnect()
  await s?.close()
})

interface Client {
  readonly so: Socket
  readonly broadcasts: any[]
  call(event: string, payload: unknown): Promise<any>
}

async function client(token: string): Promise<Client> {
  const so = await connectRealtime(s.bastide.url, token, sockets)
  const broadcasts: any[] = []
  so.on('broadcast', (m) => broadcasts.push(m))
  return { so, broadcasts, call: (e, p) => so.timeout(5000).emitWithAck(e, p) }
}

describe('API keys on channels', () => {
  it('refuses a key without records:read, even on an open channel', async () => {
    const k = await client(await createKey(s, ['storage:read', 'schema']))
    for (const channel of ['open:1', 'undefined:1']) {
      const r = await k.call('join', { channel })
      expect(r).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
      expect(r.error.message).toContain('records:read')
    }
  })

  it('lets a records:read key listen but not broadcast or publish presence', async () => {
    const reader = await client(await createKey(s, ['records:read']))
    const writer = await client(await createKey(s, ['records:read', 'records:write']))
    // Within its scope a key bypasses the rules: a channel no definition opens is joinable too.
    expect((await reader.call('join', { channel: 'undefined:2' })).ok).toBe(true)
    expect(await reader.call('join', { channel: 'open:2' })).toEqual({ ok: true, presence: {} })
    expect((await writer.call('join', { channel: 'open:2' })).ok).toBe(true)

    const sent = await reader.call('broadcast', { channel: 'open:2', event: 'e', payload: 1 })
    expect(sent).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    expect(sent.error.message).toContain('records:write')
    const tracked = await reader.call('presence:track', { channel: 'open:2', state: { on: true } })
    expect(tracked).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    expect(tracked.error.message).toContain('records:write')

    expect(await writer.call('broadcast', { channel: 'open:2', event: 'hello', payload: 2 })).toEqual({
      ok: true,
    })
    expect(await writer.call('presence:track', { channel: 'open:2', state: { on: true } })).toEqual({
      ok: true,
    })
    await expect.poll(() => reader.broadcasts.length, { timeout: 5000 }).toBe(1)
    expect(reader.broadcasts[0]).toMatchObject({ channel: 'open:2', event: 'hello', payload: 2 })
  })

  it('keeps a connection to the key it opened with', async () => {
    const readerKey = await createKey(s, ['records:read'])
    const reader = await client(readerKey)
    const other = await createKey(s, ['records:read', 'records:write'])
    const swap = await reader.call('auth', { token: other })
    expect(swap).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    expect(await reader.call('auth', { token: readerKey })).toEqual({ ok: true })
  })
})
