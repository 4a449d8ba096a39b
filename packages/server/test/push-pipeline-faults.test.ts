import { randomBytes, randomUUID } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fanOutJobId } from '../src/core/push/fan-out.ts'
import { PAYLOAD_LIMITS } from '../src/core/push/message-input.ts'
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../src/core/push/providers/retry-after.ts'
import { createKey, startTestServer, type TestServer } from './support/harness.ts'
import {
  startUnifiedPushReceiver,
  type UnifiedPushReceiver,
} from './support/push-peers/unifiedpush-receiver.ts'

/**
 * The push pipeline under faults: a device endpoint's hostile answers (an absurd Retry-After, a NUL in its body)
 * cost only that device, a fault of ours that never goes away ends the message (deliveries failed with the
 * reason) rather than leaving it sending, deliveries whose send job is gone or failed and a fan-out whose job is
 * gone are taken over by the sweeper, a stale send job can neither renew nor record what was handed to another, an API key's
 * filter cannot read hidden user fields, and a payload over any provider's limit is refused when sent.
 * RETRIES=2, a 1 s first delay; a real UnifiedPush peer on loopback.
 */

let s: TestServer
let sqlc: pg.Client
let up: UnifiedPushReceiver
const POLL = { timeout: 60_000, interval: 100 }
/** Faults are retried through the sweeper (every 5 s) a few times. */
const SLOW_POLL = { timeout: 150_000, interval: 250 }

beforeAll(async () => {
  up = await startUnifiedPushReceiver()
  s = await startTestServer({
    env: {
      BASTIDE_PUSH_ALLOW_HOSTS: '127.0.0.1',
      BASTIDE_PUSH_RETRIES: '2',
      BASTIDE_PUSH_RETRY_DELAY_SECONDS: '1',
      BASTIDE_PUSH_BATCH_SIZE: '10',
    },
  })
  sqlc = new pg.Client({ connectionString: s.dbUrl })
  await sqlc.connect()
}, 60_000)
afterAll(async () => {
  await sqlc?.end()
  await s?.close()
  await up?.close()
})

/** A UnifiedPush device (no keys) at the receiver's `/up/<name>`, written as the devices API stores it. */
async function device(name: string): Promise<string> {
  const id = `${name}-${randomBytes(8).toString('hex')}`
  await sqlc.query(
    `INSERT INTO bastide.push_devices (id, provider, token, app_id) VALUES ($1, 'unifiedpush', $2, 'com.example.app')`,
    [id, up.endpoint(name)],
  )
  return id
}

async function sent(body: unknown, as = 'admin'): Promise<any> {
  const r = await s.api('POST', '/api/push/messages', body, { as })
  expect(r.status, JSON.stringify(r.body)).toBe(202)
  return r.body
}

async function message(id: string): Promise<any> {
  return (await s.api('GET', `/api/push/messages/${id}`)).body
}

async function deliveries(id: string): Promise<Map<string, any>> {
  const r = await s.api('GET', `/api/push/messages/${id}/deliveries?limit=200`)
  expect(r.status).toBe(200)
  return new Map(r.body.items.map((d: any) => [d.deviceId, d]))
}

/** How many times each endpoint got this message. */
function receivedOf(messageId: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const r of up.received.filter((x) => x.body?.messageId === messageId))
    out.set(r.endpoint, (out.get(r.endpoint) ?? 0) + 1)
  return out
}

/** A message stored as POST /api/push/messages stores it, in a state a fault left it in (no job queued). */
async function storedMessage(o: {
  devices: string[]
  status: string
  fannedOut: boolean
  round?: number
}): Promise<string> {
  const id = randomUUID()
  await sqlc.query(
    `INSERT INTO bastide.push_messages (id, status, target, content, options, source, fanned_out, fanout_round,
        targeted)
      VALUES ($1, $2, $3, $4, $5, 'api', $6, $7, $8)`,
    [
      id,
      o.status,
      JSON.stringify({ devices: o.devices }),
      JSON.stringify({ title: 'stranded' }),
      JSON.stringify({ ttlSeconds: 60, collapseKey: null, priority: 'high', silent: false }),
      o.fannedOut,
      o.round ?? 0,
      o.fannedOut ? o.devices.length : 0,
    ],
  )
  return id
}

describe('Retry-After', () => {
  it('is capped at an hour; unreadable or negative values are ignored', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(MAX_RETRY_AFTER_MS).toBe(3_600_000)
    expect(parseRetryAfter('4', now)).toBe(4_000)
    expect(parseRetryAfter('99999999999999', now)).toBe(MAX_RETRY_AFTER_MS)
    expect(parseRetryAfter('9'.repeat(400), now)).toBe(MAX_RETRY_AFTER_MS)
    expect(parseRetryAfter('2592000', now)).toBe(MAX_RETRY_AFTER_MS)
    expect(parseRetryAfter(new Date(now + 10 * 86_400_000).toUTCString(), now)).toBe(MAX_RETRY_AFTER_MS)
    expect(parseRetryAfter(new Date(now - 60_000).toUTCString(), now)).toBe(0)
    expect(parseRetryAfter('-5', now)).toBeUndefined()
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter('', now)).toBeUndefined()
  })

  it('an absurd or month-long Retry-After costs only its device: the batch is recorded, the wait capped', async () => {
    const good: string[] = []
    for (const name of ['ra-good-1', 'ra-good-2', 'ra-good-3']) good.push(await device(name))
    const huge = await device('ra-huge')
    const month = await device('ra-month')
    up.script('ra-huge', [{ status: 429, headers: { 'retry-after': '99999999999999' } }])
    up.script('ra-month', [{ status: 429, headers: { 'retry-after': '2592000' } }])
    const m = await sent({ to: { devices: [...good, huge, month] }, title: 'one batch' })
    await expect
      .poll(async () => {
        const ds = await deliveries(m.id)
        return [...ds.values()].filter((d) => d.attempts === 1).length
      }, POLL)
      .toBe(5)
    const ds = await deliveries(m.id)
    for (const g of good) expect(ds.get(g)).toMatchObject({ status: 'sent', attempts: 1 })
    for (const d of [huge, month])
      expect(ds.get(d)).toMatchObject({ status: 'pending', attempts: 1, reason: '429' })
    // Each good device got it once: the batch's results were not rolled back and resent.
    const got = receivedOf(m.id)
    for (const name of ['ra-good-1', 'ra-good-2', 'ra-good-3', 'ra-huge', 'ra-month'])
      expect(got.get(name)).toBe(1)
    // The retry (one job for both: same next attempt) is due in an hour, not in 30 days or never.
    const answeredAt = up.received.find((x) => x.body?.messageId === m.id && x.endpoint === 'ra-huge')!.at
    const jobs = await sqlc.query(
      `SELECT start_after FROM pgboss.job WHERE name = 'push.send' AND data::text LIKE $1 ORDER BY created_on`,
      [`%${ds.get(huge).id}%`],
    )
    // The fan-out's job, then the retry's.
    expect(jobs.rows).toHaveLength(2)
    const due = jobs.rows[1].start_after.getTime()
    expect(due).toBeGreaterThanOrEqual(answeredAt + MAX_RETRY_AFTER_MS - 1_000)
    expect(due).toBeLessThanOrEqual(Date.now() + MAX_RETRY_AFTER_MS)
    expect((await message(m.id)).status).toBe('sending')
  })
})

describe('hostile answers', () => {
  it('an endpoint answering text PostgreSQL cannot store (NUL) fails only its own delivery', async () => {
    const good = await device('nul-good')
    const bad = await device('nul-bad')
    up.always('nul-bad', { status: 500, body: 'oops\u0000\u0000 down' })
    const m = await sent({ to: { devices: [good, bad] }, title: 'nul' })
    await expect.poll(async () => (await message(m.id)).status, POLL).toBe('done')
    const ds = await deliveries(m.id)
    expect(ds.get(good)).toMatchObject({ status: 'sent', attempts: 1 })
    expect(ds.get(bad)).toMatchObject({ status: 'failed', attempts: 3, reason: '500 oops down' })
    expect(receivedOf(m.id).get('nul-good')).toBe(1)
  })
})

describe('stranded work', () => {
  it('a fault of ours that never goes away ends the deliveries failed, with the reason, and the message done', async () => {
    // Recording a `sent` result of these devices fails, every time.
    await sqlc.query(`CREATE FUNCTION push_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'poisoned result'; END $$`)
    await sqlc.query(`CREATE TRIGGER poison BEFORE UPDATE ON bastide.push_deliveries FOR EACH ROW
      WHEN (NEW.status = 'sent' AND NEW.device_id LIKE 'poison-%') EXECUTE FUNCTION push_test_poison()`)
    try {
      const a = await device('poison-a')
      const b = await device('poison-b')
      const m = await sent({ to: { devices: [a, b] }, title: 'never recorded' })
      await expect.poll(async () => (await message(m.id)).status, SLOW_POLL).toBe('done')
      const end = await message(m.id)
      expect(end.counts).toMatchObject({ targeted: 2, failed: 2, pending: 0, sent: 0 })
      for (const d of (await deliveries(m.id)).values()) {
        // Two retries spent: three hand-overs of a batch that never recorded a result.
        expect(d).toMatchObject({ status: 'failed', attempts: 3 })
        expect(d.reason).toMatch(/^no result recorded after 3 attempts \(error: .*poisoned result/)
      }
    } finally {
      await sqlc.query('DROP TRIGGER poison ON bastide.push_deliveries')
      await sqlc.query('DROP FUNCTION push_test_poison()')
    }
  }, 180_000)

  it('deliveries whose send job is gone or failed for good are handed to a new job', async () => {
    const gone = await device('orphan-gone')
    const failed = await device('orphan-failed')
    const id = await storedMessage({ devices: [gone, failed], status: 'sending', fannedOut: true })
    const failedJob = randomUUID()
    await sqlc.query(
      `INSERT INTO pgboss.job (id, name, data, state) VALUES ($1, 'push.send', '{}', 'failed')`,
      [failedJob],
    )
    for (const [dev, job] of [
      [gone, randomUUID()],
      [failed, failedJob],
    ])
      await sqlc.query(
        `INSERT INTO bastide.push_deliveries (id, message_id, device_id, provider, status, job_id)
          VALUES ($1, $2, $3, 'unifiedpush', 'pending', $4)`,
        [randomUUID(), id, dev, job],
      )
    await expect.poll(async () => (await message(id)).status, SLOW_POLL).toBe('done')
    const ds = await deliveries(id)
    // One hand-over, one provider call.
    for (const dev of [gone, failed]) expect(ds.get(dev)).toMatchObject({ status: 'sent', attempts: 2 })
    expect(receivedOf(id)).toEqual(
      new Map([
        ['orphan-gone', 1],
        ['orphan-failed', 1],
      ]),
    )
  })

  it('a message whose fan-out job is gone is fanned out again, once, by its next round', async () => {
    const dev = await device('fanout-lost')
    const id = await storedMessage({ devices: [dev], status: 'queued', fannedOut: false })
    await expect.poll(async () => (await message(id)).status, SLOW_POLL).toBe('done')
    expect((await message(id)).counts).toMatchObject({ targeted: 1, sent: 1 })
    expect(receivedOf(id).get('fanout-lost')).toBe(1)
    const row = await sqlc.query('SELECT fanout_round FROM bastide.push_messages WHERE id = $1', [id])
    expect(row.rows[0].fanout_round).toBe(1)
    const jobs = await sqlc.query(
      `SELECT id FROM pgboss.job WHERE name = 'push.fanout' AND data::text LIKE $1
        UNION ALL SELECT id FROM pgboss.archive WHERE name = 'push.fanout' AND data::text LIKE $1`,
      [`%${id}%`],
    )
    expect(jobs.rows.map((r) => r.id)).toEqual([fanOutJobId(id, 1)])
  })

  it('a fan-out that failed every round is given up: the message ends', async () => {
    const dev = await device('fanout-spent')
    const id = await storedMessage({ devices: [dev], status: 'queued', fannedOut: false, round: 2 })
    await expect.poll(async () => (await message(id)).status, SLOW_POLL).toBe('done')
    expect((await message(id)).counts).toMatchObject({ targeted: 0, pending: 0 })
    expect(receivedOf(id).size).toBe(0)
  })

  it('a stale send job neither renews nor records deliveries handed to another job', async () => {
    const dev = await device('stale')
    const kept = await device('stale-kept')
    up.hold()
    try {
      const m = await sent({ to: { devices: [dev, kept] }, title: 'stale' })
      await expect.poll(() => receivedOf(m.id).size, POLL).toBe(2)
      const rows = (
        await sqlc.query(
          'SELECT id, device_id, job_id, lease_until FROM bastide.push_deliveries WHERE message_id = $1',
          [m.id],
        )
      ).rows
      const stolen = rows.find((r) => r.device_id === dev)!
      const own = rows.find((r) => r.device_id === kept)!
      const first = stolen.job_id as string
      // Handed to another job (still waiting for its time) while the first waits for the provider's answers.
      const other = randomUUID()
      await sqlc.query(
        `INSERT INTO pgboss.job (id, name, data, state, start_after)
          VALUES ($1, 'push.send', '{}', 'created', now() + interval '1 hour')`,
        [other],
      )
      await sqlc.query('UPDATE bastide.push_deliveries SET job_id = $2, lease_until = NULL WHERE id = $1', [
        stolen.id,
        other,
      ])
      // The first job renews the lease of what it still owns (one statement for the batch), not the other's.
      await expect
        .poll(async () => {
          const r = await sqlc.query('SELECT lease_until FROM bastide.push_deliveries WHERE id = $1', [
            own.id,
          ])
          return r.rows[0].lease_until.getTime() > own.lease_until.getTime()
        }, POLL)
        .toBe(true)
      const lease = await sqlc.query('SELECT lease_until FROM bastide.push_deliveries WHERE id = $1', [
        stolen.id,
      ])
      expect(lease.rows[0].lease_until).toBeNull()
      up.release()
      await expect
        .poll(async () => {
          const j = await sqlc.query(
            `SELECT state::text FROM pgboss.job WHERE id = $1 UNION ALL SELECT state::text FROM pgboss.archive WHERE id = $1`,
            [first],
          )
          return j.rows[0]?.state
        }, POLL)
        .toBe('completed')
      const after = await deliveries(m.id)
      // Its own delivery recorded (sent, or retried when the held request timed out first).
      expect(after.get(kept).attempts).toBeGreaterThanOrEqual(1)
      expect(after.get(dev)).toMatchObject({ status: 'pending', attempts: 0 })
      // The other job gone: the sweeper hands the delivery over, and it ends sent.
      await sqlc.query('DELETE FROM pgboss.job WHERE id = $1', [other])
      await expect.poll(async () => (await message(m.id)).status, SLOW_POLL).toBe('done')
      expect((await deliveries(m.id)).get(dev)).toMatchObject({ status: 'sent' })
    } finally {
      up.release()
    }
  })
})

describe('who filters on what', () => {
  it("an API key's filter may not read hidden user fields; admins' may", async () => {
    const key = await createKey(s, ['push'])
    for (const filter of ['banned = true', 'banReason = "spam"', 'name = "x" || banned = false']) {
      const r = await s.api('POST', '/api/push/messages', { to: { filter }, title: 'probe' }, { as: key })
      expect(r.status, `${filter}: ${JSON.stringify(r.body)}`).toBe(400)
      const admin = await s.api('POST', '/api/push/messages', { to: { filter }, title: 'probe' })
      expect(admin.status, `${filter}: ${JSON.stringify(admin.body)}`).toBe(202)
    }
    const ok = await sent({ to: { filter: 'name = "nobody"' }, title: 'fine' }, key)
    expect(ok).not.toHaveProperty('restricted')
    const stored = await sqlc.query('SELECT options FROM bastide.push_messages WHERE id = $1', [ok.id])
    expect(stored.rows[0].options.restricted).toBe(true)
    await expect.poll(async () => (await message(ok.id)).status, POLL).toBe('done')
  })
})

describe('payload sizes', () => {
  const to = { devices: ['size-device-0000000001'] }
  it('refuses what the Web Push plaintext record cannot hold (ids included), naming the provider', async () => {
    // About 3990 bytes of content: under the old 4096, over 3993 once messageId and deliveryId are in.
    const r = await s.api('POST', '/api/push/messages', { to, title: 'x', body: 'y'.repeat(3_900) })
    expect(r.status).toBe(400)
    expect(r.body.details).toMatchObject({ provider: 'webpush', limit: PAYLOAD_LIMITS.webpush })
    expect(r.body.message).toMatch(/Web Push/)
    expect(r.body.message).toMatch(/3993/)
  })

  it("refuses what APNs' 4096 bytes cannot hold with the aps wrapper", async () => {
    const r = await s.api('POST', '/api/push/messages', {
      to,
      subtitle: 's'.repeat(1000),
      body: 'b'.repeat(3000),
      sound: 'n'.repeat(200),
    })
    expect(r.status).toBe(400)
    expect(r.body.details).toMatchObject({ provider: 'apns', limit: 4096 })
  })

  it('checks the heaviest locale variant, and accepts what every provider takes', async () => {
    const r = await s.api('POST', '/api/push/messages', {
      to,
      title: 'x',
      localized: { fr: { body: 'é'.repeat(1990) } },
    })
    expect(r.status).toBe(400)
    expect(r.body.details).toMatchObject({ provider: 'webpush', locale: 'fr' })
    const ok = await sent({ to, title: 'x', body: 'y'.repeat(3_800) })
    await expect.poll(async () => (await message(ok.id)).status, POLL).toBe('done')
  })
})
