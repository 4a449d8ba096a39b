import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { describeUserAgent } from './user-agent.ts'

describe('describeUserAgent', () => {
  it('names common browsers and systems', () => {
    const cases: [string, string][] = [
      [
        'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0.0.0 Safari/537.36',
        'Chrome on Linux',
      ],
      [
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36 Edg/140.0',
        'Edge on Windows',
      ],
      [
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0',
        'Firefox on macOS',
      ],
      [
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
        'Safari on iOS',
      ],
      [
        'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36',
        'Chrome on Android',
      ],
      ['curl/8.5.0', 'curl'],
      ['node', 'node'],
    ]
    for (const [ua, said] of cases) expect(describeUserAgent(ua)).toBe(said)
  })

  it('says so when there is none', () => {
    expect(describeUserAgent(null)).toBe('Unknown device')
    expect(describeUserAgent('  ')).toBe('Unknown device')
  })

  it('never returns more than 40 characters, nor an empty string', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ maxLength: 300 })), (ua) => {
        const d = describeUserAgent(ua)
        expect(d.length).toBeGreaterThan(0)
        expect(d.length).toBeLessThanOrEqual(40)
      }),
    )
  })
})
