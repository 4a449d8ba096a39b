import { describe, expect, it } from 'vitest'
import { describeTrigger, hasEventTrigger, sampleEvent, triggersOf } from './triggers.ts'

describe('triggers', () => {
  it('says each trigger in a few words', () => {
    expect(describeTrigger({ http: true })).toEqual({ kind: 'http', text: 'http' })
    expect(describeTrigger({ http: { methods: ['GET', 'POST'] } }).text).toBe('http GET, POST')
    expect(describeTrigger({ record: { collection: 'posts' } }).text).toBe('record posts')
    expect(describeTrigger({ record: { collection: 'posts', actions: ['create', 'update'] } }).text).toBe(
      'record posts: create, update',
    )
    expect(describeTrigger({ auth: 'before-sign-up' })).toEqual({ kind: 'auth', text: 'auth before-sign-up' })
    expect(describeTrigger({ storage: { bucket: 'avatars', events: ['object.deleted'] } }).text).toBe(
      'storage avatars: object.deleted',
    )
    expect(describeTrigger({ cron: '*/5 * * * *' })).toEqual({ kind: 'cron', text: 'cron */5 * * * *' })
  })

  it('takes one trigger or a list', () => {
    expect(triggersOf({ on: { http: true } })).toEqual([{ http: true }])
    expect(triggersOf({ on: [{ http: true }, { cron: '0 3 * * *' }] })).toHaveLength(2)
    expect(hasEventTrigger({ on: { http: true } })).toBe(false)
    expect(hasEventTrigger({ on: [{ http: true }, { auth: 'after-sign-up' }] })).toBe(true)
  })

  it('offers a sample event in the shape of the first event trigger', () => {
    const at = new Date('2026-01-02T03:04:05.000Z')
    expect(sampleEvent({ on: [{ http: true }, { cron: '0 3 * * *' }] }, at)).toEqual({
      trigger: 'cron',
      schedule: '0 3 * * *',
      at: '2026-01-02T03:04:05.000Z',
    })
    expect(sampleEvent({ on: { record: { collection: 'posts', actions: ['update'] } } }, at)).toMatchObject({
      trigger: 'record',
      event: { action: 'update', collection: 'posts', at: '2026-01-02T03:04:05.000Z' },
    })
    expect(sampleEvent({ on: { storage: { bucket: 'avatars' } } }, at)).toMatchObject({
      trigger: 'storage',
      event: { name: 'object.created', bucket: 'avatars' },
    })
    expect(sampleEvent({ on: { auth: 'before-sign-up' } }, at)).toMatchObject({
      trigger: 'auth',
      hook: 'before-sign-up',
    })
    expect(sampleEvent({ on: { http: true } }, at)).toEqual({})
  })
})
