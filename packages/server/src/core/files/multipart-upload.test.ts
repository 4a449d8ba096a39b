import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { describe, expect, it } from 'vitest'
import { AppError } from '../../errors/index.ts'
import { MAX_FIELD_BYTES, parseMultipartUpload } from './multipart-upload.ts'

const BOUNDARY = '----bastide-test-7MA4YWxkTrZu0gW'
const HEADERS = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }
const LIMITS = { maxFileSize: 1024, maxFields: 3 }

type Part = { name: string; value: string } | { name: string; filename: string; type: string; data: Buffer }

/** A multipart/form-data body, written out by hand, delivered in small chunks. */
function body(parts: Part[], chunkSize = 13): Readable {
  const pieces: Buffer[] = []
  for (const p of parts) {
    if ('value' in p) {
      pieces.push(
        Buffer.from(
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${p.name}"\r\n\r\n${p.value}\r\n`,
        ),
      )
    } else {
      pieces.push(
        Buffer.from(
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\n` +
            `Content-Type: ${p.type}\r\n\r\n`,
        ),
        p.data,
        Buffer.from('\r\n'),
      )
    }
  }
  pieces.push(Buffer.from(`--${BOUNDARY}--\r\n`))
  const all = Buffer.concat(pieces)
  const chunks: Buffer[] = []
  for (let i = 0; i < all.length; i += chunkSize) chunks.push(all.subarray(i, i + chunkSize))
  return Readable.from(chunks, { objectMode: false })
}

const fileData = Buffer.from(Array.from({ length: 700 }, (_, i) => i % 256))

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(AppError)
  return e as AppError
}

describe('parseMultipartUpload', () => {
  it('yields the fields sent first and the file as a stream', async () => {
    const req = {
      headers: HEADERS,
      body: body([
        { name: 'key', value: 'avatars/me.png' },
        { name: 'metadata', value: '{"alt":"me"}' },
        { name: 'file', filename: 'naïve mé.png', type: 'image/png', data: fileData },
      ]),
    }
    const { fields, file } = await parseMultipartUpload(req, LIMITS)
    expect(fields).toEqual({ key: 'avatars/me.png', metadata: '{"alt":"me"}' })
    expect(file.filename).toBe('naïve mé.png')
    expect(file.declaredType).toBe('image/png')
    expect((await buffer(file.stream)).equals(fileData)).toBe(true)
  })

  it('resolves before the whole body has arrived', async () => {
    const head = Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\nfirst bytes',
    )
    const stream = new Readable({ read() {} })
    stream.push(head) // the rest of the body never comes
    const { file } = await parseMultipartUpload({ headers: HEADERS, body: stream }, LIMITS)
    expect(file.filename).toBe('a.bin')
    stream.destroy()
  })

  it('ignores fields sent after the file', async () => {
    const req = {
      headers: HEADERS,
      body: body([
        { name: 'file', filename: 'a.txt', type: 'text/plain', data: Buffer.from('hello') },
        { name: 'key', value: 'late' },
      ]),
    }
    const { fields, file } = await parseMultipartUpload(req, LIMITS)
    expect((await buffer(file.stream)).toString()).toBe('hello')
    expect(fields).toEqual({})
  })

  it('fails the file stream with 413 past maxFileSize', async () => {
    const req = {
      headers: HEADERS,
      body: body([
        { name: 'file', filename: 'big.bin', type: 'application/octet-stream', data: Buffer.alloc(5000) },
      ]),
    }
    const { file } = await parseMultipartUpload(req, LIMITS)
    const e = await refusal(buffer(file.stream))
    expect(e).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413, details: { limit: 1024 } })
  })

  it.each([
    ['no file part', [{ name: 'key', value: 'k' }], /no file part/],
    ['too many fields', ['a', 'b', 'c', 'd'].map((name) => ({ name, value: 'v' })), /At most 3 fields/],
    [
      'a duplicate field',
      [
        { name: 'key', value: 'a' },
        { name: 'key', value: 'b' },
      ],
      /sent twice/,
    ],
    ['an oversized field', [{ name: 'metadata', value: 'x'.repeat(MAX_FIELD_BYTES + 1) }], /exceeds/],
  ] as const)('refuses %s with 400', async (_name, parts, message) => {
    const e = await refusal(parseMultipartUpload({ headers: HEADERS, body: body([...parts]) }, LIMITS))
    expect(e.status).toBe(400)
    expect(e.message).toMatch(message)
  })

  it('refuses a malformed body with 400', async () => {
    const req = { headers: HEADERS, body: Readable.from([Buffer.from('not multipart at all')]) }
    const e = await refusal(parseMultipartUpload(req, LIMITS))
    expect(e.status).toBe(400)
  })

  it('refuses other content types with 415 and a missing boundary with 400', async () => {
    const json = await refusal(
      parseMultipartUpload({ headers: { 'content-type': 'application/json' }, body: body([]) }, LIMITS),
    )
    expect(json).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 })
    const noBoundary = await refusal(
      parseMultipartUpload(
        { headers: { 'content-type': 'multipart/form-data; x=1' }, body: body([]) },
        LIMITS,
      ),
    )
    expect(noBoundary.status).toBe(400)
  })
})
