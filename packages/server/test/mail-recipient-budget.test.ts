import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRecipientBudget, normalizeRecipient } from '../src/core/mail/recipient-budget.ts'
import { createPostgresRateLimiter, createRedisRateLimiter } from '../src/core/rate-limit/index.ts'
import { authCall } from './support/auth.ts'
import { startTestServer, type TestServer } from './support/harness.ts'
import { type Mailbox, startMailbox } from './support/mailbox.ts'

// The defaults: BASTIDE_MAIL_RECIPIENT_LIMIT=5 per BASTIDE_MAIL_RECIPIENT_WINDOW=600 seconds.
const LIMIT = 5
const PASSWORD = 'a long and unusual passphrase'

let s: TestServer
let mail: Mailbox
let smsServer: Server
const texts: { to: string; text: string }[] = []

beforeAll(async () => {
  mail = await startMailbox()
  smsServer = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      texts.push(JSON.parse(Buffer.concat(chunks).toString('utf8')))
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => smsServer.listen(0, '127.0.0.1', resolve))
  s = await startTestServer({
    env: {
      BASTIDE_SMTP_URL: mail.url,
      BASTIDE_PUBLIC_URL: 'http://localhost:8787',
      BASTIDE_SMS_WEBHOOK_URL: `http://127.0.0.1:${(smsServer.address() as AddressInfo).port}/sms`,
    },
  })
})
afterAll(async () => {
  await s?.close()
  await mail?.close()
  await new Promise<void>((resolve) => (smsServer ? smsServer.close(() => resolve()) : resolve()))
})

/** Mails the SMTP server accepted for `address`, in any spelling of it. */
const mailsTo = (address: string) =>
  mail.mails.filter((m) => m.to.some((t) => normalizeRecipient('email', t) === address))

/** Status and body of each answer, per endpoint: what a caller can tell from them. */
async function hammer(calls: readonly (readonly [string, unknown])[], rounds: number, token?: string) {
  const answers = new Map<string, string[]>()
  for (let round = 0; round < rounds; round++) {
    for (const [path, body] of calls) {
      const r = await authCall(s, 'POST', path, body, token ? { token } : {})
      expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(200)
      answers.set(path, [...(answers.get(path) ?? []), JSON.stringify(r.body)])
    }
  }
  return answers
}

describe('one budget per recipient, shared by every endpoint that mails', () => {
  it('delivers at most the budget to an address hammered through every mail endpoint', async () => {
    const victim = 'victim@example.com'
    // Its account's verification mail is the first of the budget.
    const up = await authCall(s, 'POST', '/sign-up/email', { email: victim, password: PASSWORD, name: 'V' })
    expect(up.status).toBe(200)
    // A stranger's account, to ask for email changes to the victim's inbox (a +tag of its address).
    const stranger = 'stranger@example.com'
    await authCall(s, 'POST', '/sign-up/email', { email: stranger, password: PASSWORD, name: 'S' })
    const token = (await authCall(s, 'POST', '/sign-in/email', { email: stranger, password: PASSWORD })).body
      .token as string

    const answers = await hammer(
      [
        ['/sign-up/email', { email: victim, password: PASSWORD, name: 'V' }], // "you already have an account"
        ['/send-verification-email', { email: victim }],
        ['/request-password-reset', { email: victim }],
        ['/sign-in/magic-link', { email: victim }],
        ['/email-otp/send-verification-otp', { email: victim, type: 'sign-in' }],
        ['/email-otp/request-password-reset', { email: victim }],
        ['/forget-password/email-otp', { email: victim }],
      ],
      3,
    )
    await hammer([['/change-email', { newEmail: 'victim+new@example.com' }]], 3, token)
    // Spellings of the victim's address, and its +tag subaddresses, are the same inbox.
    await hammer(
      [
        ['/request-password-reset', { email: 'Victim@Example.COM' }],
        ['/sign-up/email', { email: 'victim+promo@example.com', password: PASSWORD, name: 'V' }],
      ],
      1,
    )

    // Every send is awaited before its request answers: what arrived is all that will.
    expect(mailsTo(victim)).toHaveLength(LIMIT)
    // A dropped mail leaves no trace in the answer: each endpoint answered every round alike (sign-up's
    // answer to a taken address is built anew each time; its shape is what must not change).
    for (const [path, bodies] of answers) {
      const seen = path === '/sign-up/email' ? bodies.map((b) => Object.keys(JSON.parse(b)).join()) : bodies
      expect(new Set(seen).size, path).toBe(1)
    }
  })

  it('leaves other recipients their own budget', async () => {
    for (let i = 0; i < LIMIT + 2; i++)
      await authCall(s, 'POST', '/request-password-reset', { email: 'flooded@example.com' })
    const up = await authCall(s, 'POST', '/sign-up/email', {
      email: 'bystander@example.com',
      password: PASSWORD,
      name: 'B',
    })
    expect(up.status).toBe(200)
    const m = await mail.next('bystander@example.com', /confirm/i)
    expect(m.subject).toBe('Confirm your email for Bastide')
  })

  it('texts a phone number at most the budget, answering alike', async () => {
    const phone = '+33700000001'
    const answers = await hammer([['/phone-number/send-otp', { phoneNumber: phone }]], LIMIT + 3)
    expect(new Set(answers.get('/phone-number/send-otp')).size).toBe(1)
    expect(texts.filter((t) => t.to === phone)).toHaveLength(LIMIT)
    // Another number is not affected.
    await authCall(s, 'POST', '/phone-number/send-otp', { phoneNumber: '+33700000002' })
    expect(texts.filter((t) => t.to === '+33700000002')).toHaveLength(1)
  })
})

describe('recipient budget', () => {
  /** A budget of 2 on the server's PostgreSQL store (or a Redis nobody answers), with a readable log. */
  function budgetWith(store: 'postgres' | 'unreachable') {
    const lines: { level: number; msg: string; [k: string]: unknown }[] = []
    const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
    const limiter =
      store === 'postgres'
        ? createPostgresRateLimiter(s.bastide.database.db)
        : createRedisRateLimiter({ url: 'redis://127.0.0.1:1', prefix: 'bst-test-unreachable:' })
    return { budget: createRecipientBudget({ limiter, limit: 2, windowSeconds: 600, log }), lines, limiter }
  }

  it('counts spellings of one recipient together and warns once, without the address', async () => {
    const { budget, lines, limiter } = budgetWith('postgres')
    const taken: boolean[] = []
    for (const to of ['Ann+a@Example.org', ' ann@example.org ', 'ann+b@example.org', 'ANN@example.org'])
      taken.push(await budget.take('email', to))
    expect(taken).toEqual([true, true, false, false])
    expect(await budget.take('email', 'bob@example.org')).toBe(true)
    expect(await budget.take('sms', '+33 6 12 34 56 78')).toBe(true)
    expect(await budget.take('sms', '+33612345678')).toBe(true)
    expect(await budget.take('sms', '+33-6-12-34-56-78')).toBe(false)
    const warnings = lines.filter((l) => l.level === 40)
    expect(warnings.map((w) => [w.msg, w.recipient])).toEqual([
      ['mail dropped: recipient budget spent', 'a…@example.org'],
      ['sms dropped: recipient budget spent', '…678'],
    ])
    expect(JSON.stringify(lines)).not.toMatch(/ann@|612345678/i)
    await limiter.close()
  })

  it('lets messages go, with a warning, when the store cannot be reached', async () => {
    const { budget, lines, limiter } = budgetWith('unreachable')
    for (let i = 0; i < 3; i++) expect(await budget.take('email', 'carl@example.org')).toBe(true)
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
      'rate limit store unreachable: messages per recipient not limited',
    ])
    await limiter.close()
  })
})
