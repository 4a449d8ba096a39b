import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PASSPHRASE_WORDS, passphrase } from './passphrase.ts'

describe('passphrase', () => {
  it('is `count` known words joined by dashes, at least 12 characters for the default', () => {
    for (let i = 0; i < 50; i++) {
      const p = passphrase()
      const words = p.split('-')
      expect(words).toHaveLength(6)
      for (const w of words) expect(PASSPHRASE_WORDS).toContain(w)
      expect(p.length).toBeGreaterThanOrEqual(12)
    }
  })

  it('has no duplicate words in its list (each draw is worth the same)', () => {
    expect(new Set(PASSPHRASE_WORDS).size).toBe(PASSPHRASE_WORDS.length)
  })

  it('rejects draws past the last whole multiple of the list (no modulo bias), whatever the source gives', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: 1, maxLength: 40 }),
        (draws) => {
          const limit = Math.floor(0x1_0000_0000 / PASSPHRASE_WORDS.length) * PASSPHRASE_WORDS.length
          const usable = draws.filter((d) => d < limit)
          fc.pre(usable.length >= 2)
          let i = 0
          const p = passphrase(2, (b) => {
            b[0] = draws[i++] as number
            return b
          })
          expect(p).toBe(
            usable
              .slice(0, 2)
              .map((d) => PASSPHRASE_WORDS[d % PASSPHRASE_WORDS.length])
              .join('-'),
          )
        },
      ),
    )
  })
})
