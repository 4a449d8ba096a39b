import { createServer } from 'node:net'
import { startTestServer } from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError, type Invocation } from '../src/index.ts'
import { PASSWORD } from './support/auth.ts'
import { ADMIN_KEY, clientFor, createCollection, email, type TestServer } from './support/server.ts'

/** client.admin.functions and client.functions against a real server (functions run in its Deno sandbox). */
let s: TestServer & { url: string }

beforeAll(async () => {
  // A function that throws answers 502 FUNCTION_FAILED, which the server logs as a failed request: expected here.
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
  const url = `http://127.0.0.1:${port}`
  s = Object.assign(
    await startTestServer({
      listen: true,
      env: { PORT: String(port), BASTIDE_PUBLIC_URL: url },
    }),
    { url },
  )
  await createCollection(s, {
    name: 'notes',
    fields: [
      { name: 'text', type: 'text', required: true },
      { name: 'owner', type: 'relation', options: { collection: 'users' } },
    ],
    rules: {
      list: 'owner = @request.auth.id',
      view: 'owner = @request.auth.id',
      create: '@request.auth.id != "" && owner = @request.auth.id',
      update: null,
      delete: null,
    },
  })
})
afterAll(async () => {
  await s?.close()
})

// ctx.client acts as the caller: the notes it lists are the caller's (the list rule applies).
const MY_NOTES = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({
  on: { http: true },
  async handler(event, ctx) {
    const url = new URL(event.request.url)
    if (url.pathname.endsWith('/boom')) throw new Error('boom on purpose')
    if (url.pathname.endsWith('/text')) return new Response('plain ' + ctx.secrets.GREETING, { headers: { 'content-type': 'text/plain' } })
    const body = event.request.method === 'POST' ? await event.request.json() : null
    const { items } = await ctx.client.collection('notes').list()
    return Response.json({ v: 1, notes: items.map((n: { text: string }) => n.text), body })
  },
})
`

const ON_CRON = `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({
  on: { cron: '0 0 1 1 *' },
  handler(event: { at: string }, ctx: { log: { info(...a: unknown[]): void } }) {
    ctx.log.info('slot', event.at)
    return { seen: event.at }
  },
})
`

async function flushed() {
  await s.bastide.scheduler.runNow('functions', 'flush-invocations')
}

describe('client.admin.functions', () => {
  it('deploys, reads back, lists versions, rolls back, keeps secrets, test-runs and deletes', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY }).admin.functions
    const v1 = await admin.deploy('my-notes', MY_NOTES)
    expect(v1).toMatchObject({
      name: 'my-notes',
      version: 1,
      source: MY_NOTES,
      manifest: { on: { http: true } },
    })
    expect(v1.versions).toEqual([expect.objectContaining({ version: 1, active: true })])
    const v2 = await admin.deploy('my-notes', MY_NOTES.replace('v: 1', 'v: 2'))
    expect(v2.version).toBe(2)
    expect((await admin.list()).map((f) => [f.name, f.version])).toEqual([['my-notes', 2]])
    expect((await admin.version('my-notes', 1)).source).toBe(MY_NOTES)

    await admin.setSecret('my-notes', 'GREETING', 'from a secret')
    expect((await admin.get('my-notes')).secrets.map((x) => x.name)).toEqual(['GREETING'])
    const user = clientFor(s)
    expect(await user.functions.invoke('my-notes', { path: 'text' })).toBe('plain from a secret')
    await admin.deleteSecret('my-notes', 'GREETING')
    expect((await admin.get('my-notes')).secrets).toEqual([])

    expect((await admin.rollback('my-notes', 1)).version).toBe(1)
    expect(await user.functions.invoke('my-notes')).toMatchObject({ v: 1 })

    const cron = await admin.deploy('on-cron', ON_CRON)
    expect(cron.manifest.on).toEqual({ cron: '0 0 1 1 *' })
    const run = await admin.invoke('on-cron', {
      trigger: 'cron',
      schedule: '0 0 1 1 *',
      at: '2027-01-01T00:00:00.000Z',
    })
    expect(run).toMatchObject({ function: 'on-cron', status: 'ok', error: null })
    expect(run.logs.map((l) => l.message).join('\n')).toContain('2027-01-01T00:00:00.000Z')

    await admin.remove('on-cron')
    await expect(admin.get('on-cron')).rejects.toMatchObject({ code: 'FUNCTION_NOT_FOUND', status: 404 })
  })

  it('refuses a module that does not load with FUNCTION_INVALID, changing nothing', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY }).admin.functions
    const err = await admin.deploy('broken', 'export default {').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(BastideError)
    expect(err).toMatchObject({ code: 'FUNCTION_INVALID', status: 400 })
    await expect(admin.get('broken')).rejects.toMatchObject({ status: 404 })
  })

  it('pages invocations newest first, filtered by status', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY }).admin.functions
    await admin.deploy('paged', MY_NOTES)
    const anon = clientFor(s)
    for (let i = 0; i < 3; i++) await anon.functions.invoke('paged')
    await expect(anon.functions.invoke('paged', { path: 'boom' })).rejects.toMatchObject({
      code: 'FUNCTION_FAILED',
      status: 502,
    })
    await flushed()
    const all: Invocation[] = []
    let cursor: string | undefined
    do {
      const page = await admin.invocations('paged', { limit: 2, ...(cursor ? { cursor } : {}) })
      all.push(...page.items)
      cursor = page.nextCursor ?? undefined
    } while (cursor)
    expect(all).toHaveLength(4)
    expect(all.map((i) => i.startedAt)).toEqual([...all.map((i) => i.startedAt)].sort().reverse())
    const errors = await admin.invocations('paged', { status: 'error' })
    expect(errors.items).toHaveLength(1)
    expect(errors.items[0]).toMatchObject({ trigger: 'http', status: 'error' })
    expect(errors.items[0]!.error).toContain('boom on purpose')
  })
})

describe('client.functions', () => {
  it('calls an HTTP function as the signed-in user: ctx.client sees what they may see', async () => {
    await clientFor(s, { apiKey: ADMIN_KEY }).admin.functions.deploy('mine', MY_NOTES)
    const alice = clientFor(s)
    await alice.auth.signUp({ email: email('alice'), password: PASSWORD, name: 'Alice' })
    await alice.collection('notes').create({ text: 'alice was here', owner: alice.auth.user!.id })
    const bob = clientFor(s)
    await bob.auth.signUp({ email: email('bob'), password: PASSWORD, name: 'Bob' })

    expect(await alice.functions.invoke('mine', { body: { hi: 1 } })).toEqual({
      v: 1,
      notes: ['alice was here'],
      body: { hi: 1 },
    })
    expect(await bob.functions.invoke('mine')).toMatchObject({ notes: [] })
    expect(await clientFor(s).functions.invoke('mine')).toMatchObject({ notes: [] })

    const res = await alice.functions.fetch('mine', { path: 'text' })
    expect(res.headers.get('content-type')).toContain('text/plain')
    expect(await res.text()).toBe('plain undefined')
    await alice.close()
    await bob.close()
  })

  it('rejects with FUNCTION_NOT_FOUND for a function that does not exist', async () => {
    await expect(clientFor(s).functions.invoke('nobody-here')).rejects.toMatchObject({
      code: 'FUNCTION_NOT_FOUND',
      status: 404,
    })
  })
})
