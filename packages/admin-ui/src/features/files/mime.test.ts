import { describe, expect, it } from 'vitest'
import { acceptAttribute, isPreviewableImage, mimeAllowed, parseMimeList } from './mime.ts'

describe('MIME allow-lists', () => {
  it.each([
    ['image/png', ['image/*'], true],
    ['IMAGE/PNG; q=1', ['image/*'], true],
    ['image/png', ['image/png'], true],
    ['image/jpeg', ['image/png'], false],
    ['text/plain', ['image/*'], false],
    ['text/plain', [], true],
    ['text/plain', ['*'], true],
    ['application/zip', ['*/*'], true],
    // Wildcards never admit active content; naming it does.
    ['image/svg+xml', ['image/*'], false],
    ['image/svg+xml', ['image/svg+xml'], true],
    ['text/html', ['*'], false],
    ['application/pdf', ['application/*'], false],
    ['not a type', ['*'], false],
  ] as const)('%s against %j → %s', (type, patterns, allowed) => {
    expect(mimeAllowed(type, patterns)).toBe(allowed)
  })

  it('reads a typed list', () => {
    expect(parseMimeList(' image/*, application/pdf\n image/* ')).toEqual(['image/*', 'application/pdf'])
    expect(parseMimeList('')).toEqual([])
  })

  it('knows which types it can preview', () => {
    expect(isPreviewableImage('image/png')).toBe(true)
    expect(isPreviewableImage('image/svg+xml')).toBe(false)
    expect(isPreviewableImage('text/plain')).toBe(false)
  })
})

describe('the picker’s accept', () => {
  it('narrows the picker to the allow-list, or not at all', () => {
    expect(acceptAttribute([])).toBeUndefined()
    expect(acceptAttribute(['image/*', 'application/pdf'])).toBe('image/*,application/pdf')
    expect(acceptAttribute(['image/*', '*'])).toBeUndefined()
  })
})
