import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ErrorCodes } from '../src/index.ts'
import { ADMIN_KEY, clientFor, createCollection, startServer, type TestServer } from './support/server.ts'

interface Doc {
  title: string
  attachment: string | null
  pages: string[]
}

let s: TestServer & { url: string }
beforeAll(async () => {
  s = await startServer()
  const b = await s.api('POST', '/api/storage/buckets', { name: 'docs', public: false })
  expect(b.status).toBe(201)
  await createCollection(s, {
    name: 'docs',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'attachment', type: 'file', options: { bucket: 'docs' } },
      { name: 'pages', type: 'file', options: { bucket: 'docs', multiple: true } },
    ],
    rules: { list: '', view: '', create: '', update: '', delete: '' },
  })
})
afterAll(() => s?.close())

describe('record writes with files and upload progress', () => {
  it('creates a record with a file, reporting progress from 0 to the whole body, and the file is stored', async () => {
    const c = clientFor(s, { apiKey: ADMIN_KEY })
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251)
    const seen: { loaded: number; total: number | undefined }[] = []
    const doc = await c.collection<Doc>('docs').create(
      {
        title: 'report',
        attachment: new File([bytes], 'report.bin', { type: 'application/octet-stream' }),
      },
      { onProgress: (p) => seen.push(p) },
    )
    expect(doc.title).toBe('report')
    expect(doc.attachment).toMatch(/report\.bin$/)
    const total = seen[0]!.total!
    expect(total).toBeGreaterThan(bytes.length)
    expect(seen[0]!.loaded).toBe(0)
    expect(seen.at(-1)).toEqual({ loaded: total, total })
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.loaded).toBeGreaterThan(seen[i - 1]!.loaded)
    const res = await c.http.send(c.collection('docs').fileUrl(doc, 'attachment', doc.attachment!))
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes)
  })

  it('updates with files and a version; a stale version still fails with VERSION_MISMATCH', async () => {
    const c = clientFor(s, { apiKey: ADMIN_KEY })
    const docs = c.collection<Doc>('docs')
    const doc = await docs.create({ title: 'pages' })
    let last = 0
    const updated = await docs.update(
      doc.id,
      { pages: [new Blob(['one'], { type: 'text/plain' }), new Blob(['two'], { type: 'text/plain' })] },
      { version: doc.version, onProgress: (p) => (last = p.loaded) },
    )
    expect(updated.pages).toHaveLength(2)
    expect(updated.version).toBe(doc.version + 1)
    expect(last).toBeGreaterThan(0)
    await expect(
      docs.update(
        doc.id,
        { attachment: new Blob(['x'], { type: 'text/plain' }) },
        { version: doc.version, onProgress: () => {} },
      ),
    ).rejects.toMatchObject({ code: ErrorCodes.VERSION_MISMATCH, status: 409 })
  })

  it('a write without files ignores onProgress and sends JSON as before', async () => {
    const c = clientFor(s, { apiKey: ADMIN_KEY })
    let calls = 0
    const doc = await c.collection<Doc>('docs').create({ title: 'plain' }, { onProgress: () => calls++ })
    expect(doc.title).toBe('plain')
    expect(calls).toBe(0)
  })
})
