import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SignedUp, signUp } from './support/auth.ts'
import { createCollection, startTestServer, type TestServer } from './support/harness.ts'
import {
  startUnifiedPushReceiver,
  type UnifiedPushReceiver,
} from './support/push-peers/unifiedpush-receiver.ts'
import { until } from './support/until.ts'

/**
 * ctx.push: a record trigger sends a push message through the push module (source `function:<name>`), which a
 * UnifiedPush device (a plain POST to a loopback receiver) gets; a bad message is refused inside the function as a
 * TypeError with nothing queued, and one run sends 100 messages at most.
 */

const fn = (body: string) => `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction(${body})
`

/** The chat notification: every new message pushes to its recipient's devices. */
const NOTIFY = fn(`{
  on: { record: { collection: 'messages', actions: ['create'] } },
  async handler(event, ctx) {
    const m = event.event.record
    const { id } = await ctx.push.send({
      to: { users: [m.to] },
      title: 'New message',
      body: m.text,
      data: { message: m.id },
    })
    ctx.log.info('pushed ' + id)
  },
}`)

/** Tries each bad message, then a good one; answers what each call did. */
const PROBE = fn(`{
  on: { http: true },
  async handler(event, ctx) {
    const cases = {
      noMessage: undefined,
      noTarget: { title: 'x' },
      twoTargets: { to: { all: true, devices: ['probe-device-000001'] }, title: 'x' },
      notJson: { to: { all: true }, title: 'x', badge: 10n },
      unknownTopic: { to: { topic: 'no-such-topic' }, title: 'x' },
      good: { to: { devices: ['probe-device-000001'] }, title: 'Fine' },
    }
    const out = {}
    for (const [name, message] of Object.entries(cases)) {
      try {
        const r = await ctx.push.send(message)
        out[name] = typeof r.id === 'string' && r.id.length > 0 ? 'sent' : 'no id'
      } catch (err) {
        out[name] = err.name + ': ' + err.message
      }
    }
    return Response.json(out)
  },
}`)

/** Sends 100 messages, then one more. */
const FLOOD = fn(`{
  on: { http: true },
  async handler(event, ctx) {
    const send = (i) => ctx.push.send({ to: { devices: ['flood-device-00001'] }, title: 'n' + i, collapseKey: 'flood' })
    for (let i = 0; i < 100; i++) await send(i)
    try {
      await send(100)
      return Response.json({ sent: true })
    } catch (err) {
      return Response.json({ error: err.name + ': ' + err.message })
    }
  },
}`)

let s: TestServer
let receiver: UnifiedPushReceiver
let ana: SignedUp

const deploy = (name: string, source: string) => s.api('PUT', `/api/admin/functions/${name}`, { source })
const invocations = async (name: string) => {
  await s.bastide.scheduler.runNow('functions', 'flush-invocations')
  const r = await s.api('GET', `/api/admin/functions/${name}/invocations`)
  expect(r.status).toBe(200)
  return r.body.items as any[]
}
/** Every push message, newest first. */
async function messages(): Promise<any[]> {
  const out: any[] = []
  let cursor: string | null = null
  do {
    const q: string = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : '?limit=100'
    const r = await s.api('GET', `/api/push/messages${q}`)
    expect(r.status).toBe(200)
    out.push(...r.body.items)
    cursor = r.body.nextCursor
  } while (cursor)
  return out
}

beforeAll(async () => {
  receiver = await startUnifiedPushReceiver()
  s = await startTestServer({
    env: { BASTIDE_PUSH_ALLOW_HOSTS: '127.0.0.1', BASTIDE_PUSH_RETRY_DELAY_SECONDS: '1' },
  })
  await createCollection(s, {
    name: 'messages',
    fields: [
      { name: 'to', type: 'text' },
      { name: 'text', type: 'text' },
    ],
  })
  ana = await signUp(s, 'ana@example.com', { name: 'Ana' })
  const device = await s.api(
    'POST',
    '/api/push/devices',
    {
      id: 'ana-phone-0000000001',
      provider: 'unifiedpush',
      token: receiver.endpoint('ana-phone'),
      appId: 'chat.example',
    },
    { as: ana.jwt },
  )
  expect(device.status).toBe(201)
  expect(device.body).toMatchObject({ id: 'ana-phone-0000000001', userId: ana.id, provider: 'unifiedpush' })
  expect((await deploy('notify', NOTIFY)).status).toBe(201)
  expect((await deploy('probe', PROBE)).status).toBe(201)
}, 60_000)
afterAll(async () => {
  await s?.close()
  await receiver?.close()
})

describe('ctx.push', () => {
  it('lets a record trigger push to the recipient, with source function:<name>', async () => {
    const created = await s.api('POST', '/api/collections/messages/records', { to: ana.id, text: 'Hi Ana!' })
    expect(created.status).toBe(201)
    const rows = await until('the notify invocation', async () => {
      const items = await invocations('notify')
      return items.length > 0 && items
    })
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ trigger: 'record', status: 'ok', error: null })
    const id = /^pushed (.+)$/.exec(rows[0].logs[0].message)?.[1]
    expect(id).toBeTruthy()

    const listed = (await messages()).filter((m) => m.source === 'function:notify')
    expect(listed).toHaveLength(1)
    expect(listed[0]).toMatchObject({
      id,
      source: 'function:notify',
      to: { users: [ana.id] },
      title: 'New message',
      body: 'Hi Ana!',
      data: { message: created.body.id },
    })

    // The device gets it (UnifiedPush without keys: the JSON payload, plainly POSTed).
    const got = await until(
      'the UnifiedPush delivery',
      async () => receiver.received.length > 0 && receiver.received,
    )
    expect(got).toHaveLength(1)
    expect(got[0]).toMatchObject({
      endpoint: 'ana-phone',
      body: { title: 'New message', body: 'Hi Ana!', messageId: id },
    })
    const done = await until('the message to be done', async () => {
      const r = await s.api('GET', `/api/push/messages/${id}`)
      return r.status === 200 && r.body.status === 'done' && r.body
    })
    expect(done.counts).toMatchObject({ targeted: 1, sent: 1, pending: 0, failed: 0, invalidToken: 0 })
    const deliveries = await s.api('GET', `/api/push/messages/${id}/deliveries`)
    expect(deliveries.body.items).toMatchObject([
      { deviceId: 'ana-phone-0000000001', provider: 'unifiedpush', userId: ana.id, status: 'sent' },
    ])
  }, 60_000)

  it('refuses a bad message inside the function as a TypeError, and queues nothing', async () => {
    const before = (await messages()).filter((m) => m.source === 'function:probe')
    expect(before).toEqual([])
    const r = await s.api('GET', '/api/functions/probe', undefined, { as: 'anon' })
    expect(r.status).toBe(200)
    expect(r.body).toEqual({
      noMessage: 'TypeError: ctx.push.send: expects one object: { to, title?, body?, data?, ... }',
      // The push module's own validation, with the field it names.
      noTarget: expect.stringMatching(/^TypeError: ctx\.push\.send: `to`: /),
      twoTargets: expect.stringMatching(/^TypeError: ctx\.push\.send: `to`: needs exactly one of /),
      notJson: expect.stringMatching(/^TypeError: ctx\.push\.send: the message must be plain JSON/),
      // Not the message's shape: a plain Error, worded by the push module.
      unknownTopic: 'Error: ctx.push.send: Topic not found.',
      good: 'sent',
    })
    // The good message is the only one stored.
    const after = (await messages()).filter((m) => m.source === 'function:probe')
    expect(after.map((m) => m.title)).toEqual(['Fine'])
  })

  it('sends 100 messages in one run at most', async () => {
    expect((await deploy('flood', FLOOD)).status).toBe(201)
    const r = await s.api('GET', '/api/functions/flood', undefined, { as: 'anon' })
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ error: 'Error: ctx.push.send: one run may send 100 messages at most' })
    const flood = (await messages()).filter((m) => m.source === 'function:flood')
    expect(flood).toHaveLength(100)
    expect(flood.map((m) => m.title)).not.toContain('n100')
  }, 60_000)
})
