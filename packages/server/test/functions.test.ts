import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { authCall, signUp } from './support/auth.ts'
import { createCollection, createKey, startTestServer, type TestServer } from './support/harness.ts'
import { until } from './support/until.ts'

/** Functions: deploy, HTTP triggers, versions, secrets, queued triggers with retries, auth hooks, cron. */

const fn = (body: string) => `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction(${body})
`

const HELLO = fn(`{
  on: { http: true },
  async handler(event, ctx) {
    const req = event.request
    const url = new URL(req.url)
    if (req.method === 'POST') return new Response('echo:' + (await req.text()), { status: 201 })
    ctx.log.info('the key is ' + ctx.secrets.API_KEY)
    return Response.json({ v: 1, name: url.searchParams.get('name'), path: url.pathname,
      keyLength: (ctx.secrets.API_KEY ?? '').length })
  },
}`)

const HELLO_V2 = fn(`{
  on: { http: true },
  async handler() { return Response.json({ v: 2 }) },
}`)

/**
 * A streamed answer: the first line goes out, then the function waits for a record in `signals` (through
 * ctx.client, as the caller) before it sends the second. A buffered response would never show the first line.
 */
const STREAM = fn(`{
  on: { http: { methods: ['GET'] } },
  async handler(event, ctx) {
    const enc = new TextEncoder()
    return new Response(new ReadableStream({
      async start(c) {
        c.enqueue(enc.encode('first\\n'))
        for (;;) {
          const page = await ctx.client.collection('signals').list()
          if (page.items.length > 0) break
          await new Promise((r) => setTimeout(r, 20))
        }
        c.enqueue(enc.encode('second\\n'))
        c.close()
      },
    }), { headers: { 'content-type': 'text/plain' } })
  },
}`)

/** What ctx.client sees of `secrets` (records only their owner lists) and of the admin API. */
const whoami = (privileged: boolean) =>
  fn(`{
  on: { http: true },
  privileged: ${privileged},
  async handler(event, ctx) {
    const page = await ctx.client.collection('notes').list()
    const admin = await ctx.client.http.send('/api/admin/functions').then((r) => r.status, (e) => e.status)
    return Response.json({ notes: page.items.map((n) => n.body), admin })
  },
}`)

const FAILS = fn(`{
  on: { record: { collection: 'posts', actions: ['create'] } },
  retries: 2,
  async handler(event, ctx) {
    ctx.log.info('attempt ' + ctx.job.attempt + ' of ' + event.event.record.title)
    throw new Error('always fails')
  },
}`)

const GATE = fn(`{
  on: [{ auth: 'before-sign-up' }],
  async handler(event) {
    if (event.user.email.endsWith('@blocked.test')) return { allow: false, message: 'Sign-ups are closed' }
    if (event.user.email.startsWith('throw')) throw new Error('The gate fell over')
  },
}`)

const WELCOME = fn(`{
  on: [{ auth: 'after-sign-up' }, { auth: 'before-sign-in' }],
  async handler(event, ctx) {
    if (event.hook === 'before-sign-in') {
      if (event.user.email.startsWith('locked')) return { allow: false, message: 'Locked out' }
      return
    }
    const page = await ctx.client.collection('notes').list()
    ctx.log.info('welcome ' + event.user.email + ' ' + (event.user.id ? 'with id' : 'no id') + ' sees ' + page.items.length)
  },
}`)

const TICKER = fn(`{
  on: { cron: '* * * * *' },
  async handler(event, ctx) { ctx.log.info('tick ' + event.schedule + ' ' + event.at) },
}`)

const UPLOADS = fn(`{
  on: { storage: { bucket: 'media' } },
  async handler(event, ctx) { ctx.log.info(event.event.name + ' ' + event.event.key + ' ' + event.event.size) },
}`)

describe('functions', () => {
  let s: TestServer
  const deploy = (name: string, source: string, as?: string) =>
    s.api('PUT', `/api/admin/functions/${name}`, { source }, as ? { as } : {})
  const invocations = async (name: string, query = '') => {
    await s.bastide.scheduler.runNow('functions', 'flush-invocations')
    const r = await s.api('GET', `/api/admin/functions/${name}/invocations${query}`)
    expect(r.status).toBe(200)
    return r.body.items as any[]
  }

  beforeAll(async () => {
    // 502 answers are the functions' failures under test, not the server's.
    s = await startTestServer()
    await createCollection(s, { name: 'posts', fields: [{ name: 'title', type: 'text' }] })
    await createCollection(s, {
      name: 'signals',
      fields: [{ name: 'n', type: 'text' }],
      rules: { list: '', view: '' },
    })
  }, 60_000)
  afterAll(async () => {
    await s?.close()
  })

  it('deploys a function and answers GET and POST at /api/functions/<name>', async () => {
    const d = await deploy('hello', HELLO)
    expect(d.status).toBe(201)
    expect(d.body).toMatchObject({
      name: 'hello',
      version: 1,
      manifest: { on: { http: true } },
      source: HELLO,
    })
    expect(d.body.versions).toHaveLength(1)

    const get = await s.api('GET', '/api/functions/hello/sub/path?name=ada', undefined, { as: 'anon' })
    expect(get.status).toBe(200)
    expect(get.body).toEqual({ v: 1, name: 'ada', path: '/api/functions/hello/sub/path', keyLength: 0 })

    const post = await s.bastide.app.request('/api/functions/hello', { method: 'POST', body: 'some bytes' })
    expect(post.status).toBe(201)
    expect(await post.text()).toBe('echo:some bytes')

    const list = await s.api('GET', '/api/admin/functions')
    expect(list.body.items.map((f: any) => [f.name, f.version])).toEqual([['hello', 1]])
    const logged = await invocations('hello')
    expect(logged.map((i) => [i.trigger, i.status, i.httpStatus])).toEqual([
      ['http', 'ok', 201],
      ['http', 'ok', 200],
    ])
  })

  it('streams a response out as the function writes it', async () => {
    expect((await deploy('stream', STREAM)).status).toBe(201)
    const res = await s.bastide.app.request('/api/functions/stream')
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const dec = new TextDecoder()
    let text = ''
    while (!text.includes('first\n')) text += dec.decode((await reader.read()).value)
    expect(text).toBe('first\n')
    // Only now does the function get what it waits for.
    expect((await s.api('POST', '/api/collections/signals/records', { n: 'go' })).status).toBe(201)
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += dec.decode(value)
    }
    expect(text).toBe('first\nsecond\n')
    // Methods other than the declared ones are refused.
    const post = await s.api('POST', '/api/functions/stream', {})
    expect(post.status).toBe(405)
  })

  it('keeps versions, shows any of them, and rolls back to one', async () => {
    const d2 = await deploy('hello', HELLO_V2)
    expect(d2.status).toBe(200)
    expect(d2.body.version).toBe(2)
    expect((await s.api('GET', '/api/functions/hello', undefined, { as: 'anon' })).body).toEqual({ v: 2 })
    // The same source again is not a new version.
    expect((await deploy('hello', HELLO_V2)).body.version).toBe(2)

    const v1 = await s.api('GET', '/api/admin/functions/hello/versions/1')
    expect(v1.status).toBe(200)
    expect(v1.body.source).toBe(HELLO)
    expect(v1.body.version).toMatchObject({ version: 1, active: false, createdBy: 'admin' })
    expect(v1.body.version.checksum).toMatch(/^[0-9a-f]{64}$/)

    const rb = await s.api('POST', '/api/admin/functions/hello/rollback', { version: 1 })
    expect(rb.status).toBe(200)
    expect(rb.body.version).toBe(1)
    expect(rb.body.source).toBe(HELLO)
    expect(rb.body.versions.map((v: any) => [v.version, v.active])).toEqual([
      [2, false],
      [1, true],
    ])
    expect((await s.api('GET', '/api/functions/hello', undefined, { as: 'anon' })).body.v).toBe(1)
    expect((await s.api('POST', '/api/admin/functions/hello/rollback', { version: 9 })).status).toBe(404)

    const audit = await s.api('GET', '/api/admin/audit?action=function.*')
    expect(audit.body.items.map((e: any) => e.action).sort()).toEqual(
      ['function.create', 'function.create', 'function.deploy', 'function.rollback'].sort(),
    )
  })

  it('hands secrets to the function only: never returned, logged or audited', async () => {
    const value = 'sk_live_0123456789abcdef'
    expect((await s.api('PUT', '/api/admin/functions/hello/secrets/API_KEY', { value })).status).toBe(204)
    const r = await s.api('GET', '/api/functions/hello', undefined, { as: 'anon' })
    expect(r.body.keyLength).toBe(value.length)

    const detail = await s.api('GET', '/api/admin/functions/hello')
    expect(detail.body.secrets).toEqual([{ name: 'API_KEY', updatedAt: expect.any(String) }])
    const everything = JSON.stringify([
      detail.body,
      await s.api('GET', '/api/admin/functions'),
      await invocations('hello'),
      (await s.api('GET', '/api/admin/audit?action=function.*')).body,
    ])
    expect(everything).not.toContain(value)
    // The function did log it: the log line is there, with the value redacted.
    const logged = (await invocations('hello')).flatMap((i) => i.logs.map((l: any) => l.message))
    expect(logged.some((m) => m.startsWith('the key is '))).toBe(true)
    // Sealed at rest: the bytes in the table are not the value.
    const { rows } = await sql<{ sealed: Buffer }>`SELECT sealed FROM bastide.function_secrets`.execute(
      s.bastide.database.db,
    )
    expect(rows).toHaveLength(1)
    expect(Buffer.from(rows[0]!.sealed).toString('latin1')).not.toContain(value)

    expect((await s.api('DELETE', '/api/admin/functions/hello/secrets/API_KEY')).status).toBe(204)
    expect((await s.api('GET', '/api/functions/hello', undefined, { as: 'anon' })).body.keyLength).toBe(0)
    expect((await s.api('DELETE', '/api/admin/functions/hello/secrets/API_KEY')).status).toBe(404)
  })

  it('runs ctx.client as the caller, or as an admin when privileged', async () => {
    await createCollection(s, {
      name: 'notes',
      fields: [
        { name: 'body', type: 'text' },
        { name: 'owner', type: 'relation', options: { collection: 'users' } },
      ],
      rules: { list: 'owner = @request.auth.id', view: 'owner = @request.auth.id' },
    })
    const ann = await signUp(s, 'ann@fine.test')
    const bob = await signUp(s, 'bob@fine.test')
    for (const [who, body] of [
      [ann, 'ann-1'],
      [bob, 'bob-1'],
    ] as const)
      expect((await s.api('POST', '/api/collections/notes/records', { body, owner: who.id })).status).toBe(
        201,
      )
    expect((await deploy('whoami', whoami(false))).status).toBe(201)
    expect((await deploy('whoami-admin', whoami(true))).status).toBe(201)

    const as = async (name: string, token?: string) =>
      (await s.api('GET', `/api/functions/${name}`, undefined, { as: token ?? 'anon' })).body
    expect(await as('whoami')).toEqual({ notes: [], admin: 401 })
    expect(await as('whoami', ann.token)).toEqual({ notes: ['ann-1'], admin: 403 })
    expect(await as('whoami', bob.jwt)).toEqual({ notes: ['bob-1'], admin: 403 })
    const admin = await as('whoami-admin', ann.token)
    expect([...admin.notes].sort()).toEqual(['ann-1', 'bob-1'])
    expect(admin.admin).toBe(200)
    // The per-invocation credential dies with the invocation: nothing was minted.
    const keys = await s.api('GET', '/api/admin/keys')
    expect(JSON.stringify(keys.body)).not.toContain('bst_fn_')
  })

  it('retries a failing record trigger, then dead-letters it; every attempt is an invocation', async () => {
    expect((await deploy('fails', FAILS)).status).toBe(201)
    expect((await s.api('POST', '/api/collections/posts/records', { title: 'boom' })).status).toBe(201)
    const dead = await until('the dead letter', async () => {
      const r = await s.api('GET', '/api/admin/jobs/functions.fails.dead')
      return r.status === 200 && r.body.items.length > 0 && r.body.items
    })
    expect(dead).toHaveLength(1)
    const rows = await until('three invocations', async () => {
      const items = await invocations('fails')
      return items.length >= 3 && items
    })
    expect(rows).toHaveLength(3)
    expect(rows.map((i) => [i.trigger, i.status, i.attempt])).toEqual([
      ['record', 'error', 3],
      ['record', 'error', 2],
      ['record', 'error', 1],
    ])
    expect(new Set(rows.map((i) => i.jobId)).size).toBe(1)
    expect(rows[0].error).toContain('always fails')
    expect(rows[2].logs.map((l: any) => l.message)).toEqual(['attempt 1 of boom'])
    const onlyErrors = await invocations('fails', '?status=ok')
    expect(onlyErrors).toEqual([])
  }, 60_000)

  it('refuses a sign-up from a blocking hook (no user is created), and fails closed when it throws', async () => {
    expect((await deploy('gate', GATE)).status).toBe(201)
    const refused = await authCall(s, 'POST', '/sign-up/email', {
      email: 'eve@blocked.test',
      password: 'a long and unusual passphrase',
      name: 'Eve',
    })
    expect(refused.status).toBe(403)
    expect(refused.body).toMatchObject({ code: 'HOOK_REFUSED', message: 'Sign-ups are closed' })
    const crashed = await authCall(s, 'POST', '/sign-up/email', {
      email: 'throw@fine.test',
      password: 'a long and unusual passphrase',
      name: 'T',
    })
    expect(crashed.status).toBe(403)
    // Its error is for the function's author (the invocation log), not for whoever signs up.
    expect(crashed.body).toMatchObject({
      code: 'HOOK_REFUSED',
      message: 'The sign-up or sign-in check failed.',
    })
    // The hook sees the address as it would be stored: no way around its check by case.
    const shouting = await authCall(s, 'POST', '/sign-up/email', {
      email: ' EVE2@BLOCKED.TEST',
      password: 'a long and unusual passphrase',
      name: 'Eve',
    })
    expect(shouting.status).toBe(403)
    const { rows } = await sql<{ email: string }>`SELECT email FROM data.users
      WHERE email IN ('eve@blocked.test', 'throw@fine.test', 'eve2@blocked.test')`.execute(
      s.bastide.database.db,
    )
    expect(rows).toEqual([])

    const ok = await signUp(s, 'ada@fine.test')
    expect(ok.id).toEqual(expect.any(String))
    const hooks = await invocations('gate')
    expect(hooks.map((i) => [i.trigger, i.status])).toEqual([
      ['auth', 'ok'],
      ['auth', 'ok'],
      ['auth', 'error'],
      ['auth', 'ok'],
    ])
    expect(hooks[2].error).toContain('The gate fell over')
  })

  it('queues after-sign-up hooks (as the new user) and runs before-sign-in hooks', async () => {
    expect((await deploy('welcome', WELCOME)).status).toBe(201)
    const carl = await signUp(s, 'carl@fine.test')
    expect(
      (await s.api('POST', '/api/collections/notes/records', { body: 'carl-1', owner: carl.id })).status,
    ).toBe(201)
    const rows = await until('the after-sign-up invocation', async () => {
      const items = await invocations('welcome', '?trigger=auth')
      return items.some((i) => i.jobId) && items
    })
    const after = rows.find((i) => i.jobId)!
    expect(after).toMatchObject({ status: 'ok', attempt: 1 })
    expect(after.logs[0].message).toMatch(/^welcome carl@fine\.test with id sees [01]$/)

    await authCall(s, 'POST', '/sign-up/email', {
      email: 'locked@fine.test',
      password: 'a long and unusual passphrase',
      name: 'L',
    })
    const signIn = await authCall(s, 'POST', '/sign-in/email', {
      email: 'locked@fine.test',
      password: 'a long and unusual passphrase',
    })
    expect(signIn.status).toBe(403)
    expect(signIn.body).toMatchObject({ code: 'HOOK_REFUSED', message: 'Locked out' })
    const { rows: sessions } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.auth_sessions s
      JOIN data.users u ON u.id = s."userId" WHERE u.email = 'locked@fine.test'`.execute(
      s.bastide.database.db,
    )
    expect(sessions[0]!.n).toBe(0)
    expect((await s.api('DELETE', '/api/admin/functions/welcome')).status).toBe(204)
  })

  it('answers 504 FUNCTION_TIMEOUT when the function runs out of time', async () => {
    await deploy(
      'sleeper',
      fn(
        `{ on: { http: true }, timeoutMs: 300, async handler() { await new Promise((r) => setTimeout(r, 60000)); return new Response('late') } }`,
      ),
    )
    const r = await s.api('GET', '/api/functions/sleeper', undefined, { as: 'anon' })
    expect(r.status).toBe(504)
    expect(r.body).toMatchObject({ code: 'FUNCTION_TIMEOUT', status: 504 })
    const [row] = await invocations('sleeper')
    expect(row).toMatchObject({ status: 'timeout', trigger: 'http' })
  })

  it('prunes invocations past the retention', async () => {
    const db = s.bastide.database.db
    await sql`UPDATE bastide.function_invocations SET started_at = now() - interval '169 hours'
      WHERE function = 'sleeper'`.execute(db)
    await s.bastide.scheduler.runNow('functions', 'prune-invocations')
    expect(await invocations('sleeper')).toEqual([])
    expect((await invocations('hello')).length).toBeGreaterThan(0)
  })

  it('runs a cron trigger once per slot through the job queue', async () => {
    expect((await deploy('ticker', TICKER)).status).toBe(201)
    await s.bastide.scheduler.runNow('jobs', 'cron-tick')
    const rows = await until('the cron invocation', async () => {
      const items = await invocations('ticker')
      return items.length > 0 && items
    })
    // A second tick in the same minute sends nothing new.
    await s.bastide.scheduler.runNow('jobs', 'cron-tick')
    expect(rows[0]).toMatchObject({ trigger: 'cron', status: 'ok', attempt: 1 })
    expect(rows[0].logs[0].message).toMatch(/^tick \* \* \* \* \* \d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/)
  })

  it('runs a storage trigger on an upload and a deletion', async () => {
    expect((await s.api('POST', '/api/storage/buckets', { name: 'media' })).status).toBe(201)
    expect((await deploy('uploads', UPLOADS)).status).toBe(201)
    const up = await s.api('PUT', '/api/storage/buckets/media/objects/a/b.txt', 'hello', {
      headers: { 'content-type': 'text/plain' },
    })
    expect(up.status).toBeLessThan(300)
    const rows = await until('the storage invocation', async () => {
      const items = await invocations('uploads')
      return items.length > 0 && items
    })
    expect(rows[0]).toMatchObject({ trigger: 'storage', status: 'ok' })
    expect(rows[0].logs[0].message).toBe('object.created a/b.txt 5')
    expect((await s.api('DELETE', '/api/storage/buckets/media/objects/a/b.txt')).status).toBeLessThan(300)
    const after = await until('the deletion invocation', async () => {
      const items = await invocations('uploads')
      return items.length > 1 && items
    })
    expect(after.map((i) => i.logs[0].message)).toEqual([
      'object.deleted a/b.txt 5',
      'object.created a/b.txt 5',
    ])
  })

  it('test-runs an event handler from the admin API', async () => {
    const r = await s.api('POST', '/api/admin/functions/ticker/invoke', {
      event: { trigger: 'cron', schedule: '* * * * *', at: '2026-01-01T00:00:00.000Z' },
    })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ function: 'ticker', trigger: 'cron', status: 'ok', jobId: null })
    expect(r.body.logs[0].message).toBe('tick * * * * * 2026-01-01T00:00:00.000Z')
    const http = await s.api('POST', '/api/admin/functions/ticker/invoke', { event: { trigger: 'http' } })
    expect(http.status).toBe(400)
  })

  it('refuses an invalid module or declaration with 400 FUNCTION_INVALID and the error', async () => {
    const broken = await deploy('broken', 'export default {{{ nope')
    expect(broken.status).toBe(400)
    expect(broken.body.code).toBe('FUNCTION_INVALID')
    expect(JSON.stringify(broken.body)).toMatch(/SyntaxError|Expected|Unexpected/i)

    const noCollection = await deploy(
      'orphan',
      fn(`{ on: { record: { collection: 'nope' } }, async handler() {} }`),
    )
    expect(noCollection.status).toBe(400)
    expect(noCollection.body).toMatchObject({ code: 'FUNCTION_INVALID' })
    expect(noCollection.body.details.problems).toEqual(['on: the collection "nope" does not exist'])

    const badCron = await deploy('badcron', fn(`{ on: { cron: 'every day' }, async handler() {} }`))
    expect(badCron.status).toBe(400)
    expect((await s.api('GET', '/api/admin/functions/broken')).status).toBe(404)
    expect((await deploy('Bad_Name', HELLO)).status).toBe(400)
  })

  it('answers 404 FUNCTION_NOT_FOUND for an unknown function, and for one without an HTTP trigger', async () => {
    for (const path of ['/api/functions/nope', '/api/functions/nope/x', '/api/functions/ticker']) {
      const r = await s.api('GET', path, undefined, { as: 'anon' })
      expect(r.status).toBe(404)
      expect(r.body).toMatchObject({ code: 'FUNCTION_NOT_FOUND', status: 404 })
    }
    expect((await s.api('GET', '/api/admin/functions/nope')).body.code).toBe('FUNCTION_NOT_FOUND')
  })

  it('answers 502 FUNCTION_FAILED when the function throws', async () => {
    await deploy('thrower', fn(`{ on: { http: true }, async handler() { throw new Error('no luck') } }`))
    const r = await s.api('GET', '/api/functions/thrower', undefined, { as: 'anon' })
    expect(r.status).toBe(502)
    expect(r.body).toMatchObject({ code: 'FUNCTION_FAILED', status: 502 })
    // The error is for the admin's eyes (the invocation log), not the caller's.
    expect(JSON.stringify(r.body)).not.toContain('no luck')
    const [row] = await invocations('thrower')
    expect(row).toMatchObject({ id: r.body.details.invocation, status: 'error' })
    expect(row.error).toContain('no luck')
  })

  it('keeps /api/admin/functions to console admins and keys with the functions scope', async () => {
    const user = await signUp(s, 'mallory@fine.test')
    const other = await createKey(s, ['records:read', 'records:write'])
    const scoped = await createKey(s, ['functions'])
    const calls: [string, string, unknown?][] = [
      ['GET', '/api/admin/functions'],
      ['GET', '/api/admin/functions/hello'],
      ['PUT', '/api/admin/functions/evil', { source: HELLO }],
      ['PUT', '/api/admin/functions/hello/secrets/X', { value: 'x' }],
      ['GET', '/api/admin/functions/hello/invocations'],
      ['POST', '/api/admin/functions/hello/rollback', { version: 2 }],
      ['DELETE', '/api/admin/functions/hello'],
    ]
    for (const [method, path, body] of calls) {
      expect((await s.api(method, path, body, { as: user.token })).status, `${method} ${path}`).toBe(403)
      expect((await s.api(method, path, body, { as: user.jwt })).status, `${method} ${path}`).toBe(403)
      expect((await s.api(method, path, body, { as: other })).status, `${method} ${path}`).toBe(403)
      expect((await s.api(method, path, body, { as: 'anon' })).status, `${method} ${path}`).toBe(401)
    }
    expect((await s.api('GET', '/api/admin/functions', undefined, { as: scoped })).status).toBe(200)
    expect((await s.api('GET', '/api/admin/functions/evil')).status).toBe(404)

    // A privileged function acts as an admin: a scoped key may not make one live (it would be every scope).
    const privileged = fn(`{ on: { http: true }, privileged: true, handler: () => new Response('root') }`)
    const asKey = await s.api('PUT', '/api/admin/functions/rooted', { source: privileged }, { as: scoped })
    expect(asKey.status).toBe(403)
    expect((await s.api('GET', '/api/admin/functions/rooted')).status).toBe(404)
    expect((await s.api('PUT', '/api/admin/functions/rooted', { source: privileged })).status).toBe(201)
    const plain = fn(`{ on: { http: true }, handler: () => new Response('plain') }`)
    expect(
      (await s.api('PUT', '/api/admin/functions/rooted', { source: plain }, { as: scoped })).status,
    ).toBe(200)
    // Nor roll back to the privileged version.
    const back = await s.api('POST', '/api/admin/functions/rooted/rollback', { version: 1 }, { as: scoped })
    expect(back.status).toBe(403)
    expect((await s.api('DELETE', '/api/admin/functions/rooted')).status).toBe(204)

    // allowHosts names only what the operator allowed (BASTIDE_FUNCTIONS_ALLOW_HOSTS, unset here).
    const inward = fn(`{ on: { http: true }, allowHosts: ['127.0.0.1'], handler: () => new Response('x') }`)
    const refused = await s.api('PUT', '/api/admin/functions/inward', { source: inward })
    expect(refused.status).toBe(400)
    expect(refused.body.code).toBe('FUNCTION_INVALID')
    expect(refused.body.message).toContain('BASTIDE_FUNCTIONS_ALLOW_HOSTS')
  })

  it("never hands the caller's credentials to the function", async () => {
    const echo = fn(`{
      on: { http: true },
      handler: (event) => Response.json(Object.fromEntries(event.request.headers)),
    }`)
    expect((await s.api('PUT', '/api/admin/functions/headers', { source: echo })).status).toBe(201)
    const user = await signUp(s, 'hdr@fine.test')
    const r = await s.api('GET', '/api/functions/headers', undefined, {
      as: user.token,
      headers: { cookie: 'a=b', 'x-probe': 'yes' },
    })
    expect(r.status).toBe(200)
    const seen = r.body as Record<string, string>
    expect(seen['x-probe']).toBe('yes')
    expect(seen.authorization).toBeUndefined()
    expect(seen.cookie).toBeUndefined()
  })

  it('deletes a function: its route, versions, secrets and schedule go', async () => {
    expect(
      (
        await s.api('DELETE', '/api/admin/functions/ticker', undefined, {
          as: await createKey(s, ['functions']),
        })
      ).status,
    ).toBe(204)
    expect((await s.api('GET', '/api/admin/functions/ticker')).status).toBe(404)
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bastide.function_versions
      WHERE function = 'ticker'`.execute(s.bastide.database.db)
    expect(rows[0]!.n).toBe(0)
    expect((await s.api('DELETE', '/api/admin/functions/ticker')).status).toBe(404)
  })
})
