import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { modulesPath, qrShape } from './qr.ts'

/** The dark modules a path draws, back as a grid (each `M x y h w v1 h-w z` covers w modules of row y). */
function cells(path: string, size: number): boolean[][] {
  const grid = Array.from({ length: size }, () => Array<boolean>(size).fill(false))
  for (const m of path.matchAll(/M(\d+) (\d+)h(\d+)v1h-(\d+)z/g)) {
    const [x, y, w, back] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number]
    expect(back).toBe(w)
    for (let i = 0; i < w; i++) grid[y]![x + i] = true
  }
  return grid
}

describe('modulesPath', () => {
  it('draws exactly the dark modules of any grid', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.infiniteStream(fc.boolean()), (size, bits) => {
        const it = bits[Symbol.iterator]()
        const grid = Array.from({ length: size }, () =>
          Array.from({ length: size }, () => it.next().value as boolean),
        )
        expect(cells(modulesPath(grid), size)).toEqual(grid)
      }),
    )
  })

  it('draws nothing for an all-light grid', () => {
    expect(
      modulesPath([
        [false, false],
        [false, false],
      ]),
    ).toBe('')
  })
})

describe('qrShape', () => {
  it('encodes an otpauth URI with a quiet zone and the three finder patterns', () => {
    const uri =
      'otpauth://totp/Bastide%20console:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DP&issuer=Bastide%20console'
    const { size, path } = qrShape(uri)
    const grid = cells(path, size)
    // A version-N code is 17+4N modules, plus 4 of quiet zone on each side.
    expect((size - 8 - 17) % 4).toBe(0)
    // The quiet zone is light.
    for (let i = 0; i < size; i++)
      for (const j of [0, 1, 2, 3, size - 4, size - 1]) expect(grid[j]![i]).toBe(false)
    // Finder patterns: a dark 7-module ring in three corners.
    for (const [ox, oy] of [
      [4, 4],
      [size - 11, 4],
      [4, size - 11],
    ] as const) {
      for (let k = 0; k < 7; k++) {
        expect(grid[oy]![ox + k]).toBe(true)
        expect(grid[oy + 6]![ox + k]).toBe(true)
        expect(grid[oy + k]![ox]).toBe(true)
        expect(grid[oy + k]![ox + 6]).toBe(true)
      }
      expect(grid[oy + 1]![ox + 1]).toBe(false)
      expect(grid[oy + 3]![ox + 3]).toBe(true)
    }
  })
})
