import type { PushCounts } from '@bastide/protocol'
import { BastideError } from '@bastide/sdk'
import { describe, expect, it } from 'vitest'
import {
  buildMessage,
  countBadges,
  describeTarget,
  EMPTY_SEND,
  errorAt,
  isInFlight,
  localToIso,
  ruleMode,
  ruleOf,
  serverFieldErrors,
  splitIds,
  unplacedErrors,
  webPushInput,
} from './forms.ts'

const NOW = new Date('2026-06-01T12:00:00Z')
const counts = (c: Partial<PushCounts> = {}): PushCounts => ({
  targeted: 0,
  pending: 0,
  sent: 0,
  failed: 0,
  invalidToken: 0,
  optedOut: 0,
  ...c,
})

describe('push send form', () => {
  it('splits ids on commas, spaces and lines, dropping blanks and repeats', () => {
    expect(splitIds(' a, b\nc;;a  \n')).toEqual(['a', 'b', 'c'])
    expect(splitIds('  ')).toEqual([])
  })

  it('builds a message for each target', () => {
    const base = { ...EMPTY_SEND, title: ' Hi ', body: 'there' }
    expect(buildMessage({ ...base, target: 'users', users: 'u1, u2' }, NOW).input).toEqual({
      to: { users: ['u1', 'u2'] },
      title: 'Hi',
      body: 'there',
    })
    expect(buildMessage({ ...base, target: 'devices', devices: 'd1' }, NOW).input?.to).toEqual({
      devices: ['d1'],
    })
    expect(
      buildMessage({ ...base, target: 'topic', topic: 'news', preferenceTopic: 'x' }, NOW).input,
    ).toEqual({
      to: { topic: 'news' },
      title: 'Hi',
      body: 'there',
    })
    expect(buildMessage({ ...base, target: 'filter', filter: 'verified = true' }, NOW).input?.to).toEqual({
      filter: 'verified = true',
    })
    expect(buildMessage({ ...base, target: 'all', preferenceTopic: 'marketing' }, NOW).input).toEqual({
      to: { all: true },
      title: 'Hi',
      body: 'there',
      topic: 'marketing',
    })
  })

  it('keeps data pairs, silent and the schedule', () => {
    const r = buildMessage(
      {
        ...EMPTY_SEND,
        target: 'all',
        silent: true,
        data: [
          { key: ' order ', value: '42' },
          { key: '', value: '' },
        ],
        sendAt: '2026-06-02T09:30',
      },
      NOW,
    )
    expect(r.input).toEqual({
      to: { all: true },
      data: { order: '42' },
      silent: true,
      sendAt: new Date('2026-06-02T09:30').toISOString(),
    })
  })

  it('names the problems at the fields the server would', () => {
    expect(buildMessage({ ...EMPTY_SEND, target: 'users' }, NOW).problems).toEqual({
      'to.users': 'Enter at least one user id.',
      body: 'A visible notification needs a title or a body (or send it silent).',
    })
    const r = buildMessage(
      {
        ...EMPTY_SEND,
        target: 'topic',
        title: 't',
        data: [
          { key: 'a', value: '1' },
          { key: 'a', value: '2' },
        ],
        sendAt: '2020-01-01T00:00',
      },
      NOW,
    )
    expect(Object.keys(r.problems ?? {}).sort()).toEqual(['data', 'sendAt', 'to.topic'])
    expect(localToIso('nope')).toBeNull()
  })
})

describe('push errors at fields', () => {
  const error = new BastideError({
    code: 'VALIDATION_FAILED',
    status: 400,
    message: 'Some fields are invalid.',
    details: {
      fields: {
        privateKey: { code: 'custom', message: 'not a PKCS#8 PEM' },
        'to.users.2': 'not a uuid',
        other: { code: 'x' },
      },
    },
  })

  it('reads details.fields in both shapes and finds nested paths', () => {
    const f = serverFieldErrors(error)
    expect(f.privateKey).toBe('not a PKCS#8 PEM')
    expect(errorAt(f, 'to.users')).toBe('not a uuid')
    expect(errorAt(f, 'to')).toBe('not a uuid')
    expect(errorAt(f, 'teamId')).toBeUndefined()
    expect(unplacedErrors(f, ['privateKey', 'to'])).toEqual([['other', '{"code":"x"}']])
    expect(serverFieldErrors(new Error('x'))).toEqual({})
  })
})

describe('push log', () => {
  it('refreshes while a message moves', () => {
    expect(isInFlight({ status: 'queued', counts: counts(), sendAt: null }, NOW)).toBe(true)
    expect(isInFlight({ status: 'sending', counts: counts(), sendAt: null }, NOW)).toBe(true)
    expect(isInFlight({ status: 'done', counts: counts({ sent: 3 }), sendAt: null }, NOW)).toBe(false)
    expect(isInFlight({ status: 'canceled', counts: counts(), sendAt: null }, NOW)).toBe(false)
    expect(isInFlight({ status: 'scheduled', counts: counts(), sendAt: '2026-06-01T12:00:30Z' }, NOW)).toBe(
      true,
    )
    expect(isInFlight({ status: 'scheduled', counts: counts(), sendAt: '2026-06-02T12:00:00Z' }, NOW)).toBe(
      false,
    )
  })

  it('shows the non-zero counts in a fixed order', () => {
    expect(
      countBadges(counts({ targeted: 5, pending: 1, sent: 2, invalidToken: 1, optedOut: 1 })).map(
        (b) => `${b.n} ${b.label}`,
      ),
    ).toEqual(['2 sent', '1 invalid', '1 pending', '1 opted out'])
    expect(countBadges(counts())).toEqual([])
  })

  it('describes targets', () => {
    expect(describeTarget({ all: true })).toBe('every device')
    expect(describeTarget({ topic: 'news' })).toBe('topic news')
    expect(describeTarget({ users: ['a'] })).toBe('1 user: a')
    expect(describeTarget({ devices: ['a', 'b', 'c', 'd'] })).toBe('4 devices: a, b, c…')
  })
})

describe('push topics and Web Push', () => {
  it('maps subscribe rules to the form and back', () => {
    expect(ruleMode(null)).toBe('nobody')
    expect(ruleMode('')).toBe('anyone')
    expect(ruleMode('verified = true')).toBe('rule')
    expect(ruleOf('nobody', 'x')).toBeNull()
    expect(ruleOf('anyone', 'x')).toBe('')
    expect(ruleOf('rule', ' verified = true ')).toBe('verified = true')
  })

  it('asks the server for new VAPID keys with regenerate, keeps them with the subject alone, or sends a pasted pair', () => {
    expect(
      webPushInput({ subject: ' mailto:a@b.c ', generate: true, publicKey: 'p', privateKey: 'k' }),
    ).toEqual({
      subject: 'mailto:a@b.c',
      regenerate: true,
    })
    // No keys pasted: the subject alone, which keeps the stored pair.
    expect(
      webPushInput({ subject: 'mailto:a@b.c', generate: false, publicKey: ' ', privateKey: '' }),
    ).toEqual({
      subject: 'mailto:a@b.c',
    })
    expect(
      webPushInput({ subject: 'mailto:a@b.c', generate: false, publicKey: ' p ', privateKey: 'k' }),
    ).toEqual({
      subject: 'mailto:a@b.c',
      publicKey: 'p',
      privateKey: 'k',
    })
  })
})
