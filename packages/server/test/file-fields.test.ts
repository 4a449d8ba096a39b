import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SignedUp, signUp } from './support/auth.ts'
import { ADMIN_KEY, startTestServer, type TestServer } from './support/harness.ts'

/**
 * `file` fields: files uploaded with a record write (multipart: an @json part, then files named after the
 * fields), or existing objects attached by key; read through the record under its view rule; deleted with
 * the record or when a write lets go of them, in the same transaction.
 */
describe('file fields', () => {
  let s: TestServer
  let base: string
  let alice: SignedUp
  let bob: SignedUp
  const admin = { authorization: `Bearer ${ADMIN_KEY}` }
  const as = (u: SignedUp) => ({ authorization: `Bearer ${u.jwt}` })
  const records = () => `${base}/api/collections/profiles/records`

  beforeAll(async () => {
    s = await startTestServer({ listen: true })
    base = s.bastide.url
    alice = await signUp(s, 'alice-files@example.com')
    bob = await signUp(s, 'bob-files@example.com')
    const owner = 'owner = @request.auth.id'
    await bucket({
      name: 'docs',
      maxFileSize: 2048,
      rules: { read: owner, write: `@request.auth.id != '' && ${owner}`, delete: owner },
    })
    const r = await s.api('POST', '/api/collections', {
      name: 'profiles',
      fields: [
        { name: 'owner', type: 'relation', required: true, options: { collection: 'users' } },
        { name: 'title', type: 'text', options: { max: 20 } },
        { name: 'avatar', type: 'file', options: { bucket: 'docs' } },
        { name: 'photos', type: 'file', options: { bucket: 'docs', multiple: true } },
      ],
      rules: { list: owner, view: owner, create: owner, update: owner, delete: owner },
    })
    expect(r.status).toBe(201)
  })
  afterAll(async () => {
    await s?.close()
  })

  async function bucket(def: Record<string, unknown>) {
    const r = await fetch(`${base}/api/storage/buckets`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify(def),
    })
    if (r.status !== 201) throw new Error(`bucket: ${r.status} ${await r.text()}`)
  }

  type Part = [field: string, name: string, content: string]
  function form(json: unknown, files: Part[]): FormData {
    const f = new FormData()
    if (json !== undefined) f.append('@json', JSON.stringify(json))
    for (const [field, name, content] of files)
      f.append(field, new Blob([content], { type: 'text/plain' }), name)
    return f
  }
  const send = (method: string, url: string, body: FormData | unknown, headers: Record<string, string>) =>
    fetch(url, {
      method,
      headers: body instanceof FormData ? headers : { ...headers, 'content-type': 'application/json' },
      body: body instanceof FormData ? body : JSON.stringify(body),
    })
  const fileUrl = (id: string, field: string, key: string) =>
    `${records()}/${id}/files/${field}/${key.split('/').map(encodeURIComponent).join('/')}`
  const objects = async () =>
    (
      await sql<{
        key: string
        owner: string | null
        blob: string
      }>`SELECT key, owner, blob FROM bastide.objects ORDER BY key`.execute(s.bastide.database.db)
    ).rows
  const recordCount = async () =>
    (await sql<{ n: number }>`SELECT count(*)::int AS n FROM data.profiles`.execute(s.bastide.database.db))
      .rows[0]!.n
  const eventually = async (check: () => Promise<boolean>) => {
    // Blobs go after commit, in the background: poll (a loaded machine makes this slower, never wrong).
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      if (await check()) return
      await new Promise((r) => setTimeout(r, 20))
    }
    throw new Error('condition never held')
  }

  it('creates a record with files, serves them under the record rules, replaces and deletes them', async () => {
    const created = await send(
      'POST',
      records(),
      form({ owner: alice.id, title: 'me' }, [
        ['avatar', 'me.txt', 'avatar-1'],
        ['photos', 'a b.txt', 'photo-a'],
        ['photos', '../b.txt', 'photo-b'],
      ]),
      as(alice),
    )
    expect(created.status).toBe(201)
    const rec = (await created.json()) as any
    expect(rec.avatar).toMatch(new RegExp(`^profiles/${rec.id}/avatar/[0-9a-f-]{36}-me\\.txt$`))
    expect(rec.photos).toHaveLength(2)
    expect(rec.photos[0]).toMatch(/-a_b\.txt$/)
    expect(rec.photos[1]).toMatch(/-b\.txt$/)
    const rows = await objects()
    expect(rows.map((r) => r.key).sort()).toEqual([rec.avatar, ...rec.photos].sort())
    expect(rows.every((r) => r.owner === alice.id)).toBe(true)

    // Read through the record: the owner may, others get 404 (the record is hidden from them).
    const mine = await fetch(fileUrl(rec.id, 'avatar', rec.avatar), { headers: as(alice) })
    expect(mine.status).toBe(200)
    expect(await mine.text()).toBe('avatar-1')
    expect(mine.headers.get('etag')).toMatch(/^"[0-9a-f]{64}"$/)
    const ranged = await fetch(fileUrl(rec.id, 'photos', rec.photos[1]), {
      headers: { ...as(alice), range: 'bytes=0-4' },
    })
    expect(ranged.status).toBe(206)
    expect(await ranged.text()).toBe('photo')
    expect((await fetch(fileUrl(rec.id, 'avatar', rec.avatar), { headers: as(bob) })).status).toBe(404)
    expect((await fetch(fileUrl(rec.id, 'avatar', rec.avatar))).status).toBe(404)
    // A key the field does not hold, even one of the record's other files, is not served there.
    expect((await fetch(fileUrl(rec.id, 'avatar', rec.photos[0]), { headers: as(alice) })).status).toBe(404)
    const head = await fetch(fileUrl(rec.id, 'avatar', rec.avatar), { method: 'HEAD', headers: as(alice) })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe('8')

    // Replacing the avatar deletes the old object, row now and bytes right after commit.
    const oldBlob = rows.find((r) => r.key === rec.avatar)!.blob
    const replaced = await send(
      'PATCH',
      `${records()}/${rec.id}`,
      form(undefined, [['avatar', 'new.txt', 'avatar-2']]),
      as(alice),
    )
    expect(replaced.status).toBe(200)
    const rec2 = (await replaced.json()) as any
    expect(rec2.avatar).not.toBe(rec.avatar)
    expect(rec2.photos).toEqual(rec.photos)
    expect((await objects()).map((r) => r.key)).not.toContain(rec.avatar)
    await eventually(async () => (await s.bastide.storage.store.stat(oldBlob)) === undefined)
    const served = await fetch(fileUrl(rec.id, 'avatar', rec2.avatar), { headers: as(alice) })
    expect(await served.text()).toBe('avatar-2')
    expect((await fetch(fileUrl(rec.id, 'avatar', rec.avatar), { headers: as(alice) })).status).toBe(404)

    // A file sent for a multiple field without a JSON value for it is appended.
    const appended = await send(
      'PATCH',
      `${records()}/${rec.id}`,
      form({ title: 'me again' }, [['photos', 'c.txt', 'photo-c']]),
      as(alice),
    )
    expect(appended.status).toBe(200)
    const rec3 = (await appended.json()) as any
    expect(rec3.photos).toHaveLength(3)
    expect(rec3.photos.slice(0, 2)).toEqual(rec.photos)

    // Dropping one photo by JSON deletes that object only.
    const dropped = await send(
      'PATCH',
      `${records()}/${rec.id}`,
      { photos: [rec3.photos[0], rec3.photos[2]] },
      as(alice),
    )
    expect(dropped.status).toBe(200)
    const keys = (await objects()).map((r) => r.key)
    expect(keys).not.toContain(rec3.photos[1])
    expect(keys).toContain(rec3.photos[0])
    expect(keys).toContain(rec3.photos[2])
    expect(keys).toContain(rec2.avatar)

    // Bob cannot delete it (404), and nothing of it goes; deleting it as the owner deletes all its files.
    expect((await fetch(`${records()}/${rec.id}`, { method: 'DELETE', headers: as(bob) })).status).toBe(404)
    expect((await objects()).length).toBe(3)
    const blobs = (await objects()).map((r) => r.blob)
    expect((await fetch(`${records()}/${rec.id}`, { method: 'DELETE', headers: as(alice) })).status).toBe(204)
    expect(await objects()).toEqual([])
    await eventually(async () => {
      const stats = await Promise.all(blobs.map((b) => s.bastide.storage.store.stat(b)))
      return stats.every((x) => x === undefined)
    })
  })

  it('leaves no uploaded object behind when the write fails (rule, validation, bucket limit)', async () => {
    const before = await recordCount()
    // The create rule: alice may not create a profile owned by bob.
    const denied = await send(
      'POST',
      records(),
      form({ owner: bob.id }, [['avatar', 'x.txt', 'x']]),
      as(alice),
    )
    expect(denied.status).toBe(403)
    const invalid = await send(
      'POST',
      records(),
      form({ owner: alice.id, title: 'a title far too long for this field' }, [
        ['photos', 'x.txt', 'x'],
        ['photos', 'y.txt', 'y'],
      ]),
      as(alice),
    )
    expect(invalid.status).toBe(400)
    expect(((await invalid.json()) as any).details.fields.title).toBeDefined()
    const unknown = await send(
      'POST',
      records(),
      form({ owner: alice.id }, [['nope', 'x.txt', 'x']]),
      as(alice),
    )
    expect(unknown.status).toBe(400)
    // Over the bucket's 2048 bytes: the first file was stored, the second is refused; neither stays.
    const tooLarge = await send(
      'POST',
      records(),
      form({ owner: alice.id }, [
        ['photos', 'ok.txt', 'fine'],
        ['photos', 'big.txt', 'x'.repeat(5000)],
      ]),
      as(alice),
    )
    expect(tooLarge.status).toBe(413)
    // Anonymous callers cannot create at all.
    const anon = await send('POST', records(), form({ owner: alice.id }, [['avatar', 'x.txt', 'x']]), {})
    expect(anon.status).toBe(403)
    await eventually(async () => (await objects()).length === 0)
    expect(await recordCount()).toBe(before)
  })

  it('refuses a write the collection locks before storing any file', async () => {
    const r = await s.api('POST', '/api/collections', {
      name: 'archive',
      fields: [{ name: 'scan', type: 'file', options: { bucket: 'docs' } }],
    })
    expect(r.status).toBe(201)
    // Larger than the bucket allows: had the file been stored first, this would be a 413.
    const big = form({}, [['scan', 'big.txt', 'x'.repeat(10_000)]])
    const res = await send('POST', `${base}/api/collections/archive/records`, big, as(alice))
    expect(res.status).toBe(403)
    expect((await s.api('DELETE', '/api/collections/archive')).status).toBe(204)
  })

  it('attaches an existing object by key only when the caller may (400 otherwise)', async () => {
    const put = (key: string, u: SignedUp, body: string) =>
      fetch(`${base}/api/storage/buckets/docs/objects/${key}`, {
        method: 'PUT',
        headers: { ...as(u), 'content-type': 'text/plain' },
        body,
      })
    expect((await put('bob/secret.txt', bob, 'bob-secret')).status).toBe(201)
    expect((await put('alice/own.txt', alice, 'alice-own')).status).toBe(201)

    const theirs = await send('POST', records(), { owner: alice.id, avatar: 'bob/secret.txt' }, as(alice))
    expect(theirs.status).toBe(400)
    expect(((await theirs.json()) as any).details.fields.avatar.code).toBe('not_found')
    const missing = await send('POST', records(), { owner: alice.id, photos: ['alice/none.txt'] }, as(alice))
    expect(missing.status).toBe(400)

    const mine = await send('POST', records(), { owner: alice.id, avatar: 'alice/own.txt' }, as(alice))
    expect(mine.status).toBe(201)
    const rec = (await mine.json()) as any
    expect(rec.avatar).toBe('alice/own.txt')
    const served = await fetch(fileUrl(rec.id, 'avatar', 'alice/own.txt'), { headers: as(alice) })
    expect(await served.text()).toBe('alice-own')

    // Updating to someone else's key is refused too, and changes nothing.
    const swap = await send('PATCH', `${records()}/${rec.id}`, { avatar: 'bob/secret.txt' }, as(alice))
    expect(swap.status).toBe(400)
    expect((await objects()).map((r) => r.key)).toContain('alice/own.txt')

    // Through /api/batch, deleting the record deletes the object it holds.
    const batch = await send(
      'POST',
      `${base}/api/batch`,
      { requests: [{ method: 'DELETE', path: `/api/collections/profiles/records/${rec.id}` }] },
      as(alice),
    )
    expect(batch.status).toBe(200)
    expect((await objects()).map((r) => r.key)).toEqual(['bob/secret.txt'])
  })

  it('ties buckets and collections: missing buckets are refused, used buckets cannot go', async () => {
    const missing = await s.api('POST', '/api/collections', {
      name: 'broken',
      fields: [{ name: 'doc', type: 'file', options: { bucket: 'nowhere' } }],
    })
    expect(missing.status).toBe(400)
    expect(JSON.stringify(missing.body.details)).toContain('nowhere')
    const noBucket = await s.api('POST', '/api/collections', {
      name: 'broken',
      fields: [{ name: 'doc', type: 'file' }],
    })
    expect(noBucket.status).toBe(400)

    await bucket({ name: 'spare', rules: {} })
    const del = (name: string) =>
      fetch(`${base}/api/storage/buckets/${name}`, { method: 'DELETE', headers: admin })
    const used = await del('docs')
    expect(used.status).toBe(409)
    expect(((await used.json()) as any).details.referencedBy).toEqual(['profiles'])
    const rename = await fetch(`${base}/api/storage/buckets/docs`, {
      method: 'PATCH',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'documents' }),
    })
    expect(rename.status).toBe(409)
    expect((await del('spare')).status).toBe(204)

    // A text field cannot become a file field (its strings would become keys of objects it owns).
    const c = await s.api('GET', '/api/collections/profiles')
    const fields = c.body.fields.map((f: any) =>
      f.name === 'title' ? { ...f, type: 'file', options: { bucket: 'docs' } } : f,
    )
    expect((await s.api('PATCH', '/api/collections/profiles', { fields })).status).toBe(400)
  })

  it('lets admins upload into a hidden file field, and app users not', async () => {
    await bucket({ name: 'vault', rules: {} })
    const c = await s.api('POST', '/api/collections', {
      name: 'dossiers',
      fields: [
        { name: 'owner', type: 'relation', options: { collection: 'users' } },
        { name: 'scan', type: 'file', hidden: true, options: { bucket: 'vault' } },
      ],
      rules: { list: '', view: '', create: '@request.auth.id != ""', update: null, delete: null },
    })
    expect(c.status).toBe(201)
    const url = `${base}/api/collections/dossiers/records`
    const byAdmin = await send('POST', url, form({ owner: alice.id }, [['scan', 'a.txt', 'scan']]), admin)
    expect(byAdmin.status).toBe(201)
    const created = (await byAdmin.json()) as any
    expect(created.scan).toMatch(/a\.txt$/)
    const byUser = await send('POST', url, form({ owner: alice.id }, [['scan', 'b.txt', 'x']]), as(alice))
    expect(byUser.status).toBe(400)
    expect(((await byUser.json()) as any).details.fields.scan.code).toBe('read_only')
  })
})
