import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { isActiveContent, mimeMatches, SNIFF_BYTES, sniffContentType } from './sniff-content-type.ts'

const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#f00' } })
  .png()
  .toBuffer()
const jpeg = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#0f0' } })
  .jpeg()
  .toBuffer()

/** A stream that delivers `data` in `chunkSize` pieces, to exercise peeking across chunk boundaries. */
function chunked(data: Buffer, chunkSize = 7): Readable {
  const parts: Buffer[] = []
  for (let i = 0; i < data.length; i += chunkSize) parts.push(data.subarray(i, i + chunkSize))
  return Readable.from(parts, { objectMode: false })
}

async function sniff(data: Buffer | string, declared?: string) {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data
  const { mimeType, stream } = await sniffContentType(chunked(bytes), declared)
  const out = await buffer(stream)
  expect(out.equals(bytes)).toBe(true)
  return mimeType
}

describe('sniffContentType', () => {
  it.each([
    ['PNG declared as image/png', png, 'image/png', 'image/png'],
    ['JPEG declared as image/png', jpeg, 'image/png', 'image/jpeg'],
    ['PNG declared as text/html', png, 'text/html', 'image/png'],
    ['PNG with no declaration', png, undefined, 'image/png'],
    ['HTML declared as image/png', '<!DOCTYPE html><p>hi', 'image/png', 'text/html'],
    ['HTML after BOM and whitespace', '\uFEFF \n\t<ScRiPt>alert(1)</script>', 'image/png', 'text/html'],
    ['an iframe', '<iframe src=x>', 'image/gif', 'text/html'],
    ['a leading comment', '<!-- hi --><foo>', 'text/plain', 'text/html'],
    ['SVG declared as image/png', '<svg xmlns="http://www.w3.org/2000/svg"/>', 'image/png', 'image/svg+xml'],
    [
      'SVG after an XML declaration, comment and doctype',
      '<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x">\n<svg>',
      'image/jpeg',
      'image/svg+xml',
    ],
    [
      'prefixed SVG',
      '<?xml version="1.0"?><s:svg xmlns:s="http://www.w3.org/2000/svg"/>',
      undefined,
      'image/svg+xml',
    ],
    [
      'XHTML',
      '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">',
      'text/plain',
      'application/xhtml+xml',
    ],
    ['XML', '<?xml version="1.0"?><feed/>', 'image/png', 'application/xml'],
    [
      'XML declared as an XML type',
      '<?xml version="1.0"?><feed/>',
      'application/atom+xml',
      'application/atom+xml',
    ],
    ['text declared as CSV', 'a,b\n1,2\n', 'text/csv; charset=utf-8', 'text/csv'],
    ['text declared as JSON', '{"a":1}', 'application/json', 'application/json'],
    ['text declared as HTML without markup', 'just words', 'text/html', 'text/plain'],
    ['text declared as JavaScript', 'alert(1)', 'application/javascript', 'text/plain'],
    ['text declared as image/png', 'not a png', 'image/png', 'text/plain'],
    ['text with no declaration', 'héllo wörld', undefined, 'text/plain'],
    [
      'UTF-16 HTML',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<html>', 'utf16le')]),
      undefined,
      'text/html',
    ],
    [
      'binary declared as image/png',
      Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 0x00]),
      'image/png',
      'application/octet-stream',
    ],
    [
      'binary declared as an unknown type',
      Buffer.from([0, 1, 2, 3]),
      'application/x-protobuf',
      'application/x-protobuf',
    ],
    ['binary declared as text', Buffer.from([0, 1, 2, 3]), 'text/plain', 'application/octet-stream'],
    ['binary declared as SVG', Buffer.from([0, 1, 2, 3]), 'image/svg+xml', 'application/octet-stream'],
    ['empty, declared as text', '', 'text/plain', 'text/plain'],
    ['empty, no declaration', '', undefined, 'application/octet-stream'],
    ['a malformed declaration', Buffer.from([0x13, 0x37, 0, 0x42]), 'not a mime', 'application/octet-stream'],
  ])('%s', async (_name, data, declared, expected) => {
    expect(await sniff(data, declared)).toBe(expected)
  })

  it('returns every byte of a stream larger than the sample, and the sample is bounded', async () => {
    const big = Buffer.concat([png, Buffer.alloc(SNIFF_BYTES * 10, 7)])
    expect(await sniff(big, 'image/png')).toBe('image/png')
  })

  it('does not read the whole source before answering', async () => {
    let pulled = 0
    const endless = new Readable({
      read() {
        pulled++
        this.push(Buffer.alloc(1024, 0x61))
      },
    })
    const { mimeType, stream } = await sniffContentType(endless)
    expect(mimeType).toBe('text/plain')
    expect(pulled).toBeLessThan(40)
    stream.destroy()
    await new Promise((r) => setImmediate(r))
    expect(endless.destroyed).toBe(true)
  })

  it('tolerates a multi-byte character cut by the sample boundary', async () => {
    const text = `${'a'.repeat(SNIFF_BYTES - 1)}é and more`
    expect(await sniff(text)).toBe('text/plain')
  })

  it('propagates a source error through the returned stream', async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error('disk on fire'))
      },
    })
    await expect(sniffContentType(failing)).rejects.toThrow('disk on fire')
  })
})

describe('isActiveContent', () => {
  it.each([
    ['text/html', true],
    ['TEXT/HTML; charset=utf-8', true],
    ['application/xhtml+xml', true],
    ['image/svg+xml', true],
    ['application/xml', true],
    ['text/xml', true],
    ['application/rss+xml', true],
    ['text/xsl', true],
    ['text/javascript', true],
    ['application/ecmascript', true],
    ['application/pdf', true],
    ['image/png', false],
    ['text/plain', false],
    ['application/json', false],
    ['application/octet-stream', false],
    ['garbage', false],
  ])('%s → %s', (mime, expected) => {
    expect(isActiveContent(mime)).toBe(expected)
  })
})

describe('mimeMatches', () => {
  it.each([
    ['image/png', ['image/*'], true],
    ['IMAGE/PNG', ['image/png'], true],
    ['image/png', ['Image/PNG; q=1'], true],
    ['text/plain; charset=utf-8', ['text/plain'], true],
    ['video/mp4', ['image/*', 'video/*'], true],
    ['video/mp4', ['*/*'], true],
    ['video/mp4', ['*'], true],
    ['video/mp4', ['image/*'], false],
    ['image/png', ['image/jpeg'], false],
    ['image/png', ['image'], false],
    ['imagex/png', ['image/*'], false],
    // Active content only when named: a wildcard never lets script in.
    ['image/svg+xml', ['image/*'], false],
    ['image/svg+xml', ['*/*'], false],
    ['text/html', ['text/*'], false],
    ['image/svg+xml', ['image/*', 'image/svg+xml'], true],
    ['image/png', [], false],
    ['not-a-mime', ['*/*'], false],
  ] as const)('%s in %j → %s', (mime, patterns, expected) => {
    expect(mimeMatches(mime, patterns)).toBe(expected)
  })
})
