import type { JobQueueStats } from '@bastide/protocol'
import { describe, expect, it } from 'vitest'
import { attemptsText, isDeadLetterQueue, jobAttempts, listTarget, orderQueues } from './views.ts'

const q = (name: string, deadLetter: string | null = null): JobQueueStats => ({
  name,
  queued: 0,
  active: 0,
  failed: 0,
  completed: 0,
  deadLetter,
})

describe('jobs views', () => {
  const all = [
    q('functions.b.dead'),
    q('webhooks', 'webhooks.dead'),
    q('functions.b', 'functions.b.dead'),
    q('webhooks.dead'),
    q('functions.a', 'functions.a.dead'),
  ]

  it('puts each dead-letter queue under the queue feeding it', () => {
    expect(orderQueues(all).map((x) => x.name)).toEqual([
      'functions.a',
      'functions.b',
      'functions.b.dead',
      'webhooks',
      'webhooks.dead',
    ])
    expect(isDeadLetterQueue(q('webhooks.dead'), all)).toBe(true)
    expect(isDeadLetterQueue(q('webhooks'), all)).toBe(false)
  })

  it('lists dead letters from the dead-letter queue, in any state; other views by state', () => {
    expect(listTarget(q('functions.b', 'functions.b.dead'), 'dead')).toEqual({ queue: 'functions.b.dead' })
    expect(listTarget(q('plain'), 'dead')).toEqual({ queue: 'plain', state: 'failed' })
    expect(listTarget(q('functions.b', 'functions.b.dead'), 'retry')).toEqual({
      queue: 'functions.b',
      state: 'retry',
    })
  })

  it('counts attempts against the first one plus the retries; a dead letter made them all', () => {
    expect(attemptsText(4, 3)).toBe('4 of 4')
    expect(attemptsText(1, 0)).toBe('1 of 1')
    expect(jobAttempts({ attempts: 0, retryLimit: 1, state: 'created' }, true)).toBe('2 of 2')
    expect(jobAttempts({ attempts: 1, retryLimit: 1, state: 'failed' }, true)).toBe('1 of 2')
    expect(jobAttempts({ attempts: 0, retryLimit: 3, state: 'created' }, false)).toBe('0 of 4')
  })
})
