import { describe, expect, it } from 'vitest'
import { contentDisposition, MAX_FILENAME_LENGTH } from './content-disposition.ts'

/** The `filename*` value decoded back, or the quoted fallback when there is none. */
function offeredName(header: string): string {
  const star = /filename\*=UTF-8''([^;]*)/.exec(header)
  if (star) return decodeURIComponent(star[1]!)
  return /filename="([^"]*)"/.exec(header)![1]!
}

describe('contentDisposition', () => {
  it.each([
    ['report.pdf', 'attachment', 'attachment; filename="report.pdf"'],
    ['photos/2024/cat.png', 'inline', 'inline; filename="cat.png"'],
    ['a\\b\\c.txt', 'attachment', 'attachment; filename="c.txt"'],
    ['', 'attachment', 'attachment; filename="download"'],
    ['dir/', 'attachment', 'attachment; filename="download"'],
    ['..', 'attachment', 'attachment; filename="download"'],
    ['name. . ', 'attachment', 'attachment; filename="name"'],
    ['naïve.txt', 'attachment', `attachment; filename="na_ve.txt"; filename*=UTF-8''na%C3%AFve.txt`],
    [
      'say "hi".txt',
      'attachment',
      `attachment; filename="say _hi_.txt"; filename*=UTF-8''say%20%22hi%22.txt`,
    ],
    ['100%.txt', 'attachment', `attachment; filename="100_.txt"; filename*=UTF-8''100%25.txt`],
    ["it's (1)*.txt", 'attachment', `attachment; filename="it's (1)*.txt"`],
  ] as const)('%j as %s', (name, kind, expected) => {
    expect(contentDisposition(kind, name)).toBe(expected)
  })

  it('encodes the RFC 5987 specials that encodeURIComponent leaves alone', () => {
    const header = contentDisposition('attachment', "é'(1)*.txt")
    expect(header).toContain(`filename*=UTF-8''%C3%A9%27%281%29%2A.txt`)
    expect(offeredName(header)).toBe("é'(1)*.txt")
  })

  it('cannot be used to inject headers or parameters', () => {
    const header = contentDisposition('attachment', 'evil.txt"\r\nSet-Cookie: a=b; x="\u0000')
    for (const c of ['\r', '\n', '\u0000']) expect(header).not.toContain(c)
    expect(header.match(/"/g)).toHaveLength(2)
    expect(header).toBe(
      `attachment; filename="evil.txt_Set-Cookie: a=b; x=_"; filename*=UTF-8''evil.txt%22Set-Cookie%3A%20a%3Db%3B%20x%3D%22`,
    )
  })

  it('removes bidi overrides that disguise an extension', () => {
    expect(offeredName(contentDisposition('attachment', 'invoice\u202Egnp.exe'))).toBe('invoicegnp.exe')
  })

  it('keeps emoji and survives lone surrogates', () => {
    expect(offeredName(contentDisposition('inline', '📷 photo.jpg'))).toBe('📷 photo.jpg')
    expect(offeredName(contentDisposition('inline', 'bad\uD800.jpg'))).toBe('bad\uFFFD.jpg')
  })

  it('caps very long names, keeping the extension', () => {
    const name = offeredName(contentDisposition('attachment', `${'a'.repeat(500)}.jpeg`))
    expect(Array.from(name)).toHaveLength(MAX_FILENAME_LENGTH)
    expect(name.endsWith('.jpeg')).toBe(true)

    const emoji = offeredName(contentDisposition('attachment', `${'😀'.repeat(300)}.png`))
    expect(Array.from(emoji)).toHaveLength(MAX_FILENAME_LENGTH)
    expect(emoji.endsWith('😀.png')).toBe(true)

    const noExt = offeredName(contentDisposition('attachment', 'b'.repeat(300)))
    expect(noExt).toBe('b'.repeat(MAX_FILENAME_LENGTH))
  })
})
