import { randomBytes } from 'node:crypto'
import { ERRORS } from '@tus/server'
import pg from 'pg'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUploadLocker, type UploadLocker } from '../src/core/files/upload-locker.ts'
import {
  createUpload,
  headUpload,
  heldUploadLocks,
  objectOf,
  patchUpload,
  sha256,
  stalledPatch,
} from './support/cluster-tus.ts'
import { ADMIN_KEY, createTestDatabase, TEST_SECRET } from './support/harness.ts'
import { type ChildServer, startChildServer } from './support/processes.ts'
import { bastideS3Env, startS3rver, type TestS3 } from './support/s3.ts'

/**
 * tus upload locks across nodes: one request at a time per upload whichever node it reaches, a new request
 * on one node makes the holder on another let go (so that a client cut off mid-PATCH resumes through any
 * node), and a lock whose node died is free again.
 */
let db: { url: string; drop(): Promise<void> }
let s3: TestS3
let a: ChildServer | undefined
let b: ChildServer | undefined
const lockers: UploadLocker[] = []
const admin = { authorization: `Bearer ${ADMIN_KEY}` }
const log = pino({ level: 'silent' })
const never = new AbortController().signal

const locker = (acquireTimeoutMs = 10_000) => {
  const l = createUploadLocker({ connectionString: db.url, log, acquireTimeoutMs })
  lockers.push(l)
  return l
}

beforeAll(async () => {
  db = await createTestDatabase()
  s3 = await startS3rver()
  const env = {
    DATABASE_URL: db.url,
    BASTIDE_ADMIN_KEY: ADMIN_KEY,
    BASTIDE_SECRET: TEST_SECRET,
    ...bastideS3Env(s3),
  }
  // One after the other: both would run the migrations at once otherwise (which works, but slowly).
  a = await startChildServer(env)
  b = await startChildServer(env)
  const r = await fetch(`${a.url}/api/storage/buckets`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'files', rules: { read: '', write: '' } }),
  })
  expect(r.status).toBe(201)
}, 120_000)

afterAll(async () => {
  for (const l of lockers) await l.close().catch(() => {})
  await a?.stop().catch(() => {})
  await b?.stop().catch(() => {})
  await s3?.close().catch(() => {})
  await db?.drop()
})

describe('the upload locker, two nodes on one database', () => {
  it('admits one holder per upload across nodes, and asks the holder on the other node to let go', async () => {
    const one = locker()
    const two = locker()
    const id = `u-${randomBytes(8).toString('hex')}`
    const held = one.newLock(id)
    let asked = 0
    await held.lock(never, () => {
      // The holder finishes what it is doing, then lets go (as tus does after its drain delay); it may be
      // asked more than once meanwhile.
      if (asked++ === 0) setTimeout(() => void held.unlock(), 100)
    })
    // Another upload is not affected.
    const other = two.newLock(`${id}-other`)
    await other.lock(never, () => {})
    await other.unlock()

    const waiting = two.newLock(id)
    await waiting.lock(never, () => {})
    expect(asked).toBeGreaterThan(0)
    expect(await heldUploadLocks(db.url)).toBe(1)
    await waiting.unlock()
    expect(await heldUploadLocks(db.url)).toBe(0)
  })

  it('keeps apart two uploads whose ids share a 32-bit hash: their locks are 64-bit', async () => {
    // hashtext('upload-9796') = hashtext('upload-176233'): one lock for both under a 32-bit key.
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    const h = await c.query(`SELECT hashtext('upload-9796') = hashtext('upload-176233') AS same`)
    await c.end()
    expect(h.rows[0].same).toBe(true)
    const one = locker()
    const two = locker(300)
    let asked = false
    const first = one.newLock('upload-9796')
    await first.lock(never, () => {
      asked = true
    })
    // Taken at once, and the holder of the other upload is never asked to let go.
    const second = two.newLock('upload-176233')
    await second.lock(never, () => {})
    expect(await heldUploadLocks(db.url)).toBe(2)
    expect(asked).toBe(false)
    await second.unlock()
    await first.unlock()
    expect(await heldUploadLocks(db.url)).toBe(0)
  })

  it('fails with tus lock timeout when the holder does not let go in time', async () => {
    const one = locker()
    const two = locker(300)
    const id = `u-${randomBytes(8).toString('hex')}`
    const held = one.newLock(id)
    await held.lock(never, () => {})
    await expect(two.newLock(id).lock(never, () => {})).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT)
    await held.unlock()
    const now = two.newLock(id)
    await now.lock(never, () => {})
    await now.unlock()
  })

  it('frees the locks of a node whose connection died, and tells that node to stop writing', async () => {
    const one = locker()
    const two = locker()
    const id = `u-${randomBytes(8).toString('hex')}`
    let stopped = false
    const doomed = one.newLock(id)
    await doomed.lock(never, () => {
      // tus stops the request, which then unlocks (a no-op on a lost session).
      if (stopped) return
      stopped = true
      void doomed.unlock()
    })
    // What a killed node's socket does: PostgreSQL ends the session, and its locks with it.
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    await c.query(
      `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    )
    await c.end()
    const taken = two.newLock(id)
    await taken.lock(never, () => {})
    await expect.poll(() => stopped).toBe(true)
    await taken.unlock()
    // The node that lost its session takes locks again on a new one.
    const again = one.newLock(id)
    await again.lock(never, () => {})
    await again.unlock()
  })
})

describe('resumable uploads across two server processes', () => {
  it('a HEAD on node B makes the PATCH in flight on node A let go, and the upload finishes through B', async () => {
    const bytes = randomBytes(10 * 1024 * 1024)
    const url = await createUpload(a!.url, admin, bytes.length, { bucket: 'files', key: 'across.bin' })
    const onA = await stalledPatch(`${a!.url}${url}`, admin, bytes, 9 * 1024 * 1024)
    // A holds the upload's lock while its PATCH is under way.
    await expect.poll(() => heldUploadLocks(db.url)).toBe(1)
    expect(onA.ended()).toBe(false)

    const h = await headUpload(`${b!.url}${url}`, admin)
    expect(h.status).toBe(200)
    // B could answer only once A had let go: A ends its PATCH (keeping the bytes it had received).
    await expect.poll(() => onA.ended()).toBe(true)
    const offset = Number(h.headers.get('upload-offset'))
    expect(offset).toBeLessThanOrEqual(9 * 1024 * 1024)

    const rest = await patchUpload(`${b!.url}${url}`, admin, offset, bytes.subarray(offset))
    expect(rest.status).toBe(204)
    expect(objectOf(rest)).toMatchObject({ key: 'across.bin', size: bytes.length, sha256: sha256(bytes) })
    expect(await heldUploadLocks(db.url)).toBe(0)
  })

  it('resumes through node B after node A is killed in the middle of a PATCH', async () => {
    const bytes = randomBytes(10 * 1024 * 1024)
    const url = await createUpload(a!.url, admin, bytes.length, { bucket: 'files', key: 'killed.bin' })
    const onA = await stalledPatch(`${a!.url}${url}`, admin, bytes, 9 * 1024 * 1024)
    await expect.poll(() => heldUploadLocks(db.url)).toBe(1)

    await a!.kill()
    a = undefined
    await onA.done
    // The lock went with A's connection: nobody is left to be asked, and B takes it.
    const h = await headUpload(`${b!.url}${url}`, admin)
    expect(h.status).toBe(200)
    const offset = Number(h.headers.get('upload-offset'))
    expect(offset).toBeLessThanOrEqual(9 * 1024 * 1024)
    const rest = await patchUpload(`${b!.url}${url}`, admin, offset, bytes.subarray(offset))
    expect(rest.status).toBe(204)
    expect(objectOf(rest)).toMatchObject({ key: 'killed.bin', size: bytes.length, sha256: sha256(bytes) })
  })
})
