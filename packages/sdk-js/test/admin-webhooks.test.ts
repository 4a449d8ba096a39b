import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError } from '../src/index.ts'
import { ADMIN_KEY, clientFor, createCollection, startServer, type TestServer } from './support/server.ts'

/** client.admin.webhooks against a real server and a real receiver on loopback (allow-listed). */
let s: TestServer & { url: string }
let receiver: Server
let base = ''
const bodies: any[] = []

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => {
      raw += c
    })
    req.on('end', () => {
      bodies.push(JSON.parse(raw))
      res.end('ok')
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  s = await startServer({ BASTIDE_WEBHOOKS_ALLOW_HOSTS: '127.0.0.1' })
  await createCollection(s, { name: 'orders', fields: [{ name: 'total', type: 'number' }] })
})
afterAll(async () => {
  await s?.close()
  receiver?.closeAllConnections()
  await new Promise((resolve) => receiver?.close(resolve))
})

describe('client.admin.webhooks', () => {
  it('creates, lists, changes, pings, pages deliveries, redelivers, rotates and removes', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    const w = await admin.admin.webhooks.create({
      url: `${base}/o`,
      collection: 'orders',
      actions: ['create'],
    })
    expect(w.secret).toMatch(/^whsec_/)
    expect((await admin.admin.webhooks.list()).map((x) => x.id)).toEqual([w.id])
    expect(await admin.admin.webhooks.get(w.id)).not.toHaveProperty('secret')
    expect(await admin.admin.webhooks.update(w.id, { description: 'orders to billing' })).toMatchObject({
      description: 'orders to billing',
    })
    const ping = await admin.admin.webhooks.test(w.id)
    expect(ping).toMatchObject({ event: 'ping', status: 'delivered' })
    await admin.collection('orders').create({ total: 3 })
    // Recorded once the receiver's answer is in (a moment after it got the body).
    await expect
      .poll(async () => {
        const [last] = (await admin.admin.webhooks.deliveries(w.id)).items
        return `${last?.event} ${last?.status}`
      })
      .toBe('record.created delivered')
    expect(bodies).toHaveLength(2)
    const page = await admin.admin.webhooks.deliveries(w.id, { limit: 1 })
    expect(page.items[0]).toMatchObject({ event: 'record.created', status: 'delivered' })
    const more = await admin.admin.webhooks.deliveries(w.id, { limit: 1, cursor: page.nextCursor! })
    expect(more.items[0]!.id).toBe(ping.id)
    const one = await admin.admin.webhooks.delivery(w.id, page.items[0]!.id)
    expect(one.payload).toEqual(bodies[1])
    expect((await admin.admin.webhooks.redeliver(w.id, one.id)).status).toBe('pending')
    await expect.poll(() => bodies.length).toBe(3)
    expect(bodies[2]).toEqual(bodies[1])
    const rotated = await admin.admin.webhooks.rotateSecret(w.id)
    expect(rotated.secret).not.toBe(w.secret)
    await admin.admin.webhooks.remove(w.id)
    expect(await admin.admin.webhooks.list()).toEqual([])
  })

  it('throws BastideError with the server’s code', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    const refused = await admin.admin.webhooks
      .create({ url: 'http://10.0.0.1/hook', collection: 'orders', actions: ['create'] })
      .catch((e) => e)
    expect(refused).toBeInstanceOf(BastideError)
    expect(refused).toMatchObject({ code: 'DESTINATION_REFUSED', status: 422 })
    const missing = await admin.admin.webhooks.get('00000000-0000-4000-8000-000000000000').catch((e) => e)
    expect(missing).toMatchObject({ code: 'NOT_FOUND', status: 404 })
  })
})
