import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp } from './support/auth.ts'
import { startTestServer, type TestServer } from './support/harness.ts'
import { type Mailbox, startMailbox } from './support/mailbox.ts'
import { until } from './support/until.ts'

/**
 * ctx.mail: a function mails through the server's mailer (a real SMTP server here), a bad message is refused
 * inside the function with nothing sent, and a mail that cannot go fails the run: retried, dead-lettered, and
 * delivered by a replay once SMTP is back.
 */

const fn = (body: string) => `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction(${body})
`

/** The issue's `welcome`: mails every new user. */
const WELCOME = fn(`{
  on: { auth: 'after-sign-up' },
  retries: 2,
  async handler(event, ctx) {
    await ctx.mail.send({
      to: event.user.email,
      subject: 'Welcome, ' + event.user.name,
      text: 'Hello ' + event.user.name + ', your id is ' + event.user.id + '.',
      html: '<p>Hello <b>' + event.user.name + '</b></p>',
    })
    ctx.log.info('welcomed ' + event.user.email)
  },
}`)

/** Tries each bad message (each to its own address), then a good one; answers what each call did. */
const PROBE = fn(`{
  on: { http: true },
  async handler(event, ctx) {
    const eleven = Array.from({ length: 11 }, (_, i) => 'many' + i + '@example.com')
    const cases = {
      noSubject: { to: 'bad1@example.com', text: 'no subject' },
      elevenRecipients: { to: eleven, subject: 'too many', text: 'x' },
      nonStringTo: { to: 42, subject: 'number', text: 'x' },
      nonStringSubject: { to: 'bad2@example.com', subject: { a: 1 }, text: 'x' },
      noBody: { to: 'bad3@example.com', subject: 'empty' },
      notAnAddress: { to: 'bad4 at example.com', subject: 'no at', text: 'x' },
      twoLineSubject: { to: 'bad5@example.com', subject: 'a\\nBcc: evil@example.com', text: 'x' },
      longSubject: { to: 'bad6@example.com', subject: 'x'.repeat(999), text: 'x' },
      bigBody: { to: 'bad7@example.com', subject: 'big', text: 'x'.repeat(1024 * 1024 + 1) },
      unknownField: { to: 'bad8@example.com', subject: 'cc', text: 'x', cc: 'evil@example.com' },
      noMessage: undefined,
      good: { to: ['ok1@example.com', 'OK2@example.com'], subject: 'Fine', text: 'all good' },
    }
    const out = {}
    for (const [name, message] of Object.entries(cases)) {
      try {
        await ctx.mail.send(message)
        out[name] = 'sent'
      } catch (err) {
        out[name] = err.name + ': ' + err.message
      }
    }
    return Response.json(out)
  },
}`)

/** Mails 5 x 10 recipients, then one more. */
const BULK = fn(`{
  on: { http: true },
  async handler(event, ctx) {
    for (let i = 0; i < 5; i++) {
      const to = Array.from({ length: 10 }, (_, j) => 'bulk' + (i * 10 + j) + '@example.com')
      await ctx.mail.send({ to, subject: 'Bulk ' + i, text: 'x' })
    }
    try {
      await ctx.mail.send({ to: 'bulk50@example.com', subject: 'One more', text: 'x' })
      return Response.json({ sent: true })
    } catch (err) {
      return Response.json({ error: err.name + ': ' + err.message })
    }
  },
}`)

let s: TestServer
let mail: Mailbox

const deploy = (name: string, source: string) => s.api('PUT', `/api/admin/functions/${name}`, { source })
const smtp = (url: string) =>
  s.api('PATCH', '/api/admin/settings', { smtp: { url, from: 'Bastide <app@example.com>' } })
const invocations = async (name: string) => {
  await s.bastide.scheduler.runNow('functions', 'flush-invocations')
  const r = await s.api('GET', `/api/admin/functions/${name}/invocations`)
  expect(r.status).toBe(200)
  return r.body.items as any[]
}

beforeAll(async () => {
  mail = await startMailbox()
  // SMTP comes from the runtime settings (not BASTIDE_SMTP_URL, which would lock it), so a test can take it away.
  s = await startTestServer({ env: { BASTIDE_MAIL_RECIPIENT_LIMIT: '100' } })
  expect((await smtp(mail.url)).status).toBe(200)
  expect((await deploy('welcome', WELCOME)).status).toBe(201)
  expect((await deploy('probe', PROBE)).status).toBe(201)
}, 60_000)
afterAll(async () => {
  await s?.close()
  await mail?.close()
})

describe('ctx.mail', () => {
  it('lets an after-sign-up function mail the new user', async () => {
    const ana = await signUp(s, 'Ana@Example.com', { name: 'Ana' })
    const m = await mail.next('ana@example.com', /^Welcome/, 30_000)
    expect(m.subject).toBe('Welcome, Ana')
    expect(m.text.trim()).toBe(`Hello Ana, your id is ${ana.id}.`)
    expect(m.raw).toContain('Content-Type: text/html')
    expect(m.from).toBe('app@example.com')
    const rows = await until('the welcome invocation', async () => {
      const items = await invocations('welcome')
      return items.length > 0 && items
    })
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ trigger: 'auth', status: 'ok', attempt: 1, error: null })
    expect(rows[0].logs.map((l: any) => l.message)).toEqual(['welcomed ana@example.com'])
  })

  it('refuses a bad message inside the function, with a clear message, and sends nothing', async () => {
    const r = await s.api('GET', '/api/functions/probe', undefined, { as: 'anon' })
    expect(r.status).toBe(200)
    expect(r.body).toEqual({
      noSubject: 'TypeError: ctx.mail.send: `subject` is required (a string)',
      elevenRecipients: 'TypeError: ctx.mail.send: `to` lists over 10 recipients',
      nonStringTo: 'TypeError: ctx.mail.send: `to` must be an email address or an array of at most 10',
      nonStringSubject: 'TypeError: ctx.mail.send: `subject` must be a string',
      noBody: 'TypeError: ctx.mail.send: a mail needs a `text` or an `html` body',
      notAnAddress: 'TypeError: ctx.mail.send: "bad4 at example.com" is not an email address',
      twoLineSubject: 'TypeError: ctx.mail.send: `subject` must be one line',
      longSubject: 'TypeError: ctx.mail.send: `subject` is over 998 characters',
      bigBody: 'TypeError: ctx.mail.send: `text` is over 1048576 bytes',
      unknownField: 'TypeError: ctx.mail.send: unknown field cc',
      noMessage: 'TypeError: ctx.mail.send: expects one object: { to, subject, text?, html? }',
      good: 'sent',
    })
    // One mail per recipient; the good message was the last call, so every earlier one would be in by now.
    expect((await mail.next('ok1@example.com', /Fine/)).text.trim()).toBe('all good')
    expect((await mail.next('ok2@example.com', /Fine/)).to).toEqual(['ok2@example.com'])
    const strays = mail.mails.filter((m) => m.to.some((t) => /^(bad|many|evil)/.test(t)))
    expect(strays).toEqual([])
  })

  it('mails 50 recipients in one run at most', async () => {
    expect((await deploy('bulk', BULK)).status).toBe(201)
    const r = await s.api('GET', '/api/functions/bulk', undefined, { as: 'anon' })
    expect(r.body).toEqual({ error: 'Error: ctx.mail.send: one run may mail 50 recipients at most' })
    const bulk = mail.mails.filter((m) => m.to.some((t) => t.startsWith('bulk')))
    expect(bulk).toHaveLength(50)
    expect(bulk.flatMap((m) => m.to)).not.toContain('bulk50@example.com')
  })

  it('fails the run when SMTP is down: retried, dead-lettered, and delivered by a replay', async () => {
    // Nothing listens on port 1: every connection is refused.
    expect((await smtp('smtp://127.0.0.1:1')).status).toBe(200)
    const bob = await signUp(s, 'bob@example.com', { name: 'Bob' })
    const dead = await until('the dead letter', async () => {
      const r = await s.api('GET', '/api/admin/jobs/functions.welcome.dead')
      return r.status === 200 && r.body.items.length > 0 && r.body.items
    })
    expect(dead).toHaveLength(1)
    const failed = await until('three attempts', async () => {
      const items = (await invocations('welcome')).filter((i) => i.status === 'error')
      return items.length >= 3 && items
    })
    // retries: 2 — three attempts of one job, each refused by the mail.
    expect(failed.map((i) => [i.status, i.attempt])).toEqual([
      ['error', 3],
      ['error', 2],
      ['error', 1],
    ])
    expect(new Set(failed.map((i) => i.jobId)).size).toBe(1)
    expect(failed[0].error).toMatch(
      /^Error: ctx\.mail\.send: the mail could not be sent: the SMTP server could not be reached/,
    )
    // Where the SMTP server is stays on the host.
    expect(failed[0].error).not.toContain('127.0.0.1')
    expect(mail.mails.filter((m) => m.to.includes('bob@example.com'))).toEqual([])

    expect((await smtp(mail.url)).status).toBe(200)
    const replayed = await s.api('POST', `/api/admin/jobs/functions.welcome.dead/${dead[0].id}/replay`)
    expect(replayed.status).toBe(200)
    expect(replayed.body).toMatchObject({ queue: 'functions.welcome' })
    const m = await mail.next('bob@example.com', /^Welcome/, 30_000)
    expect(m.text.trim()).toBe(`Hello Bob, your id is ${bob.id}.`)
    const ok = await until('the replayed invocation', async () => {
      const items = (await invocations('welcome')).filter(
        (i) => i.status === 'ok' && i.jobId === failed[0].jobId,
      )
      return items.length > 0 && items
    })
    expect(ok).toHaveLength(1)
    expect((await s.api('GET', '/api/admin/jobs/functions.welcome.dead')).body.items).toEqual([])
  }, 60_000)
})
