import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, createTestDatabase, TEST_SECRET } from './support/harness.ts'
import { type ChildServer, startChildServer } from './support/processes.ts'
import {
  startUnifiedPushReceiver,
  type UnifiedPushReceiver,
} from './support/push-peers/unifiedpush-receiver.ts'

/**
 * A node killed (SIGKILL) while a send batch waits for the provider's answers: once another node runs, every
 * delivery ends sent, none is lost, and only the deliveries whose results the dead node never recorded may
 * reach a device twice (at-least-once). The receiver counts what it got per delivery id (in the payload).
 */

const DEVICES = 30
const BATCH = 5
const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }

let db: { url: string; drop(): Promise<void> }
let up: UnifiedPushReceiver
let sqlc: pg.Client
let node: ChildServer | undefined
let env: Record<string, string>

beforeAll(async () => {
  up = await startUnifiedPushReceiver()
  db = await createTestDatabase()
  env = {
    DATABASE_URL: db.url,
    BASTIDE_ADMIN_KEY: ADMIN_KEY,
    BASTIDE_SECRET: TEST_SECRET,
    BASTIDE_CONSOLE_DIR: 'off',
    BASTIDE_PUSH_ALLOW_HOSTS: '127.0.0.1',
    BASTIDE_PUSH_BATCH_SIZE: String(BATCH),
    BASTIDE_PUSH_CONCURRENCY: String(BATCH),
  }
  node = await startChildServer(env)
  sqlc = new pg.Client({ connectionString: db.url })
  await sqlc.connect()
}, 120_000)
afterAll(async () => {
  await node?.stop()
  await sqlc?.end()
  await up?.close()
  await db?.drop()
})

async function statuses(messageId: string): Promise<Map<string, string>> {
  const r = await sqlc.query('SELECT id, status FROM bastide.push_deliveries WHERE message_id = $1', [
    messageId,
  ])
  return new Map(r.rows.map((x) => [x.id as string, x.status as string]))
}

describe('push across a crash', () => {
  it('sends every delivery after a node dies mid-batch; repeats only what it had not recorded', async () => {
    // Devices written as the devices API stores them (the API's per-address registration limit is not the point).
    for (let i = 0; i < DEVICES; i++)
      await sqlc.query(
        `INSERT INTO bastide.push_devices (id, provider, token, app_id) VALUES ($1, 'unifiedpush', $2, 'com.example.app')`,
        [`crash-device-${String(i).padStart(4, '0')}`, up.endpoint(`d${i}`)],
      )
    // The first batch goes through; then the receiver stops answering, so batches are left in flight.
    up.hold(BATCH)
    const r = await fetch(`${node!.url}/api/push/messages`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ to: { all: true }, title: 'survives', body: 'a crash' }),
    })
    expect(r.status).toBe(202)
    const { id } = (await r.json()) as { id: string }
    // Every page fanned out, one batch recorded, and a whole batch waiting for its answers: kill now.
    await expect
      .poll(
        async () => {
          const m = await sqlc.query('SELECT fanned_out FROM bastide.push_messages WHERE id = $1', [id])
          const sent = [...(await statuses(id)).values()].filter((s) => s === 'sent').length
          return m.rows[0]?.fanned_out === true && sent >= BATCH && up.held >= BATCH
        },
        { timeout: 60_000, interval: 50 },
      )
      .toBe(true)
    await node!.kill()
    node = undefined
    const before = await statuses(id)
    expect(before.size).toBe(DEVICES)
    const receivedBefore = new Set(up.received.map((x) => x.body.deliveryId as string))
    // The dead node's requests get their answers now: too late, nobody records them.
    up.release()

    node = await startChildServer(env)
    await expect
      .poll(
        async () => {
          const m = await fetch(`${node!.url}/api/push/messages/${id}`, { headers: admin })
          return ((await m.json()) as { status: string }).status
        },
        { timeout: 120_000, interval: 250 },
      )
      .toBe('done')

    const after = await statuses(id)
    expect([...after.values()].every((s) => s === 'sent')).toBe(true)
    const m = (await (await fetch(`${node.url}/api/push/messages/${id}`, { headers: admin })).json()) as any
    expect(m.counts).toMatchObject({ targeted: DEVICES, sent: DEVICES, pending: 0, failed: 0 })

    const got = new Map<string, number>()
    for (const x of up.received.filter((x) => x.body.messageId === id))
      got.set(x.body.deliveryId, (got.get(x.body.deliveryId) ?? 0) + 1)
    // None lost: every delivery reached its device.
    expect([...after.keys()].filter((d) => !got.has(d))).toEqual([])
    // Repeats only among those the dead node had sent (they reached the receiver) without recording them.
    const repeated = [...got].filter(([, n]) => n > 1).map(([d]) => d)
    for (const d of repeated) {
      expect(before.get(d)).toBe('pending')
      expect(receivedBefore.has(d)).toBe(true)
    }
    // Those recorded sent before the crash were never sent again.
    for (const [d, s] of before) if (s === 'sent') expect(got.get(d)).toBe(1)
    expect(repeated.length).toBeGreaterThan(0)
  }, 240_000)
})
