/**
 * GET one record answers a weak ETag built from the collection's definition, the record's id, version and
 * `updated`, and whether hidden fields are shown (json-etag.ts recordWithEtag): same record, same caller shape,
 * same tag and 304; any write, schema change or other caller shape, another tag. With `fields` or `expand` the
 * body is hashed (strong tag), like lists.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCollection, createRecord, startTestServer, type TestServer } from './support/harness.ts'

let s: TestServer
let col: any
let rec: any

beforeAll(async () => {
  s = await startTestServer()
  col = await createCollection(s, {
    name: 'tagged',
    fields: [
      { name: 'text', type: 'text' },
      { name: 'secret', type: 'text', hidden: true },
      { name: 'count', type: 'text' },
    ],
    rules: { list: '', view: '', create: '' },
  })
  await createCollection(s, {
    name: 'tag_refs',
    fields: [
      { name: 'label', type: 'text' },
      { name: 'target', type: 'relation', options: { collection: 'tagged' } },
    ],
    rules: { list: '', view: '', create: '' },
  })
  rec = await createRecord(s, 'tagged', { text: 'hello', secret: 's3cret', count: '1' })
})
afterAll(() => s?.close())

const path = () => `/api/collections/tagged/records/${rec.id}`
const get = (as: string, ifNoneMatch?: string, query = '') =>
  s.api('GET', `${path()}${query}`, undefined, {
    as,
    ...(ifNoneMatch !== undefined ? { headers: { 'if-none-match': ifNoneMatch } } : {}),
  })

describe('single-record ETags', () => {
  it('gives the same weak tag to the same record at the same version, and 304 on it', async () => {
    const a = await get('anon')
    const b = await get('anon')
    const tag = a.headers.get('etag')!
    expect(tag).toMatch(/^W\/"[^"]+"$/)
    expect(b.headers.get('etag')).toBe(tag)
    const c = await get('anon', tag)
    expect(c.status).toBe(304)
    expect(c.headers.get('etag')).toBe(tag)
    // Among others, and without the weak prefix (hono compares weakly).
    expect((await get('anon', `"nope", ${tag}`)).status).toBe(304)
    expect((await get('anon', tag.slice(2))).status).toBe(304)
    expect((await get('anon', '"nope"')).status).toBe(200)
  })

  it('tags what an admin sees (hidden fields) apart from what anyone sees', async () => {
    const anon = await get('anon')
    const admin = await get('admin')
    expect(anon.body.secret).toBeUndefined()
    expect(admin.body.secret).toBe('s3cret')
    const anonTag = anon.headers.get('etag')!
    const adminTag = admin.headers.get('etag')!
    expect(adminTag).not.toBe(anonTag)
    const crossed = await get('anon', adminTag)
    expect(crossed.status).toBe(200)
    expect(crossed.body.secret).toBeUndefined()
    expect((await get('admin', anonTag)).status).toBe(200)
    expect((await get('admin', adminTag)).status).toBe(304)
  })

  it('changes the tag when the record is written', async () => {
    const before = (await get('anon')).headers.get('etag')!
    const r = await s.api('PATCH', path(), { text: 'changed' })
    expect(r.status).toBe(200)
    const after = await get('anon', before)
    expect(after.status).toBe(200)
    expect(after.body.text).toBe('changed')
    expect(after.headers.get('etag')).not.toBe(before)
    expect((await get('anon', after.headers.get('etag')!)).status).toBe(304)
  })

  it('changes the tag when the schema changes the body without a write to the record', async () => {
    const before = await get('anon')
    const tag = before.headers.get('etag')!
    const fields = (await s.api('GET', '/api/collections/tagged')).body.fields
    // A field added: the body gains it (null).
    const added = await s.api('PATCH', '/api/collections/tagged', {
      fields: [...fields, { name: 'extra', type: 'bool' }],
    })
    expect(added.status).toBe(200)
    const withExtra = await get('anon', tag)
    expect(withExtra.status).toBe(200)
    expect(withExtra.body.extra).toBeNull()
    expect(withExtra.body.version).toBe(before.body.version)
    const tag2 = withExtra.headers.get('etag')!
    expect(tag2).not.toBe(tag)
    // A field retyped: '1' becomes 1, same version.
    const now = (await s.api('GET', '/api/collections/tagged')).body.fields
    const retyped = await s.api('PATCH', '/api/collections/tagged', {
      fields: now.map((f: any) => (f.name === 'count' ? { ...f, type: 'number' } : f)),
    })
    expect(retyped.status).toBe(200)
    const asNumber = await get('anon', tag2)
    expect(asNumber.status).toBe(200)
    expect(asNumber.body.count).toBe(1)
    expect(asNumber.body.version).toBe(before.body.version)
    expect(asNumber.headers.get('etag')).not.toBe(tag2)
  })

  it('hashes the body when fields or expand shape it', async () => {
    const full = (await get('anon')).headers.get('etag')!
    const picked = await get('anon', undefined, '?fields=id,text')
    const pickedTag = picked.headers.get('etag')!
    expect(Object.keys(picked.body).sort()).toEqual(['id', 'text'])
    expect(pickedTag).toMatch(/^"[0-9a-f]{40}"$/)
    expect(pickedTag).not.toBe(full)
    expect((await get('anon', pickedTag, '?fields=id,text')).status).toBe(304)
    expect((await get('anon', full, '?fields=id,text')).status).toBe(200)

    // An expanded record changes without the one asked for moving: the hash sees it.
    const ref = await createRecord(s, 'tag_refs', { label: 'r', target: rec.id })
    const refPath = `/api/collections/tag_refs/records/${ref.id}?expand=target`
    const e1 = await s.api('GET', refPath, undefined, { as: 'anon' })
    expect(e1.body.expand.target.id).toBe(rec.id)
    const etag1 = e1.headers.get('etag')!
    expect(etag1).toMatch(/^"[0-9a-f]{40}"$/)
    await s.api('PATCH', path(), { text: 'changed again' })
    const e2 = await s.api('GET', refPath, undefined, { as: 'anon', headers: { 'if-none-match': etag1 } })
    expect(e2.status).toBe(200)
    expect(e2.body.expand.target.text).toBe('changed again')
  })

  it('keeps hashing list bodies', async () => {
    const list = await s.api('GET', '/api/collections/tagged/records', undefined, { as: 'anon' })
    const tag = list.headers.get('etag')!
    expect(tag).toMatch(/^"[0-9a-f]{40}"$/)
    const again = await s.api('GET', '/api/collections/tagged/records', undefined, {
      as: 'anon',
      headers: { 'if-none-match': tag },
    })
    expect(again.status).toBe(304)
  })
})
