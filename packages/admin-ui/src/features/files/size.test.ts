import { describe, expect, it } from 'vitest'
import { parseSize, percent, sizeText } from './size.ts'

describe('sizes', () => {
  it.each([
    ['', null],
    ['  ', null],
    ['1048576', 1048576],
    ['5 MB', 5 * 1024 ** 2],
    ['5mb', 5 * 1024 ** 2],
    ['512k', 512 * 1024],
    ['1.5 GiB', 1.5 * 1024 ** 3],
    ['0', undefined],
    ['-1 MB', undefined],
    ['5 parsecs', undefined],
    ['MB', undefined],
  ] as const)('%j → %s', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes)
  })

  it('writes sizes that read back exactly (property)', () => {
    // Seeded inputs across magnitudes, and exact multiples of each unit (fast-check is not a console dependency).
    let s = 7
    for (let i = 0; i < 2000; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0
      const n = (1 + (s % 2 ** (1 + (i % 20)))) * (i % 3 === 0 ? 1024 ** (i % 4) : 1)
      expect(parseSize(sizeText(n))).toBe(n)
    }
    expect(sizeText(5 * 1024 ** 2)).toBe('5 MB')
    expect(sizeText(1000)).toBe('1000 B')
  })

  it('computes a bounded percentage', () => {
    expect(percent(0, 100)).toBe(0)
    expect(percent(50, 100)).toBe(50)
    expect(percent(150, 100)).toBe(100)
    expect(percent(3, undefined)).toBe(100)
    expect(percent(0, 0)).toBe(0)
  })
})
