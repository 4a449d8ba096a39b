import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UPLOAD_LOCK_CLASS, UPLOAD_LOCK_KEYS } from '../src/core/files/upload-locker.ts'
import { createUpload, headUpload, objectOf, patchUpload, sha256 } from './support/cluster-tus.ts'
import { ADMIN_KEY, startTestServer, type TestServer } from './support/harness.ts'

/**
 * A tus request on an upload that another holder keeps (a node that is stuck, and so never lets go when
 * asked) waits BASTIDE_STORAGE_UPLOAD_LOCK_TIMEOUT_MS, then gets 409 CONFLICT: busy, not broken; the upload
 * goes on once the holder is gone.
 */
const admin = { authorization: `Bearer ${ADMIN_KEY}` }
let s: TestServer
let holder: pg.Client | undefined

beforeAll(async () => {
  // Short, so that the test does not wait tus's 30 s.
  s = await startTestServer({ listen: true, env: { BASTIDE_STORAGE_UPLOAD_LOCK_TIMEOUT_MS: '500' } })
  const b = await s.api('POST', '/api/storage/buckets', { name: 'files', rules: { read: '', write: '' } })
  expect(b.status).toBe(201)
})

afterAll(async () => {
  await holder?.end().catch(() => {})
  await s?.close()
})

describe('an upload held elsewhere', () => {
  it('answers 409 CONFLICT after the lock timeout, and the upload goes on once the holder is gone', async () => {
    const base = s.bastide.url
    const bytes = randomBytes(4096)
    const path = await createUpload(base, admin, bytes.length, { bucket: 'files', key: 'held.bin' })
    const id = s.bastide.storage.uploads.idFromUrl(path.split('/').pop()!)
    expect(id).toBeDefined()

    // The lock another node would hold, taken as the locker takes it, by a session that never lets go.
    holder = new pg.Client({ connectionString: s.dbUrl })
    await holder.connect()
    await holder.query(`SELECT pg_advisory_lock(${UPLOAD_LOCK_KEYS})`, [UPLOAD_LOCK_CLASS, id])

    const patch = await patchUpload(`${base}${path}`, admin, 0, bytes)
    expect(patch.status).toBe(409)
    expect(await patch.json()).toMatchObject({ code: 'CONFLICT', status: 409 })
    expect((await headUpload(`${base}${path}`, admin)).status).toBe(409)

    // Nothing was written meanwhile; once the holder is gone the same upload finishes.
    await holder.query(`SELECT pg_advisory_unlock(${UPLOAD_LOCK_KEYS})`, [UPLOAD_LOCK_CLASS, id])
    const h = await headUpload(`${base}${path}`, admin)
    expect(h.status).toBe(200)
    expect(h.headers.get('upload-offset')).toBe('0')
    const done = await patchUpload(`${base}${path}`, admin, 0, bytes)
    expect(done.status).toBe(204)
    expect(objectOf(done)).toMatchObject({ key: 'held.bin', size: bytes.length, sha256: sha256(bytes) })
  })

  it('refuses to start with a lock timeout that is not a number of milliseconds from 100', async () => {
    for (const bad of ['soon', '10'])
      await expect(startTestServer({ env: { BASTIDE_STORAGE_UPLOAD_LOCK_TIMEOUT_MS: bad } })).rejects.toThrow(
        /BASTIDE_STORAGE_UPLOAD_LOCK_TIMEOUT_MS/,
      )
  })
})
