import { describe, expect, it } from 'vitest'
import { parseEvent } from './parse-event.ts'

describe('parseEvent', () => {
  it('takes a JSON object, and says why anything else is refused', () => {
    expect(parseEvent('{"trigger":"cron","at":"x"}')).toEqual({
      ok: true,
      value: { trigger: 'cron', at: 'x' },
    })
    const bad = parseEvent('{ not json')
    expect(bad.ok).toBe(false)
    expect(!bad.ok && bad.message).toMatch(/^The event is not JSON: /)
    for (const text of ['[1]', '"text"', '3', 'null'])
      expect(parseEvent(text)).toEqual({
        ok: false,
        message: 'The event must be a JSON object, like {"trigger": "record", …}.',
      })
  })
})
