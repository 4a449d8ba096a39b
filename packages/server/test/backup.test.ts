import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import pg from 'pg'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config/load-config.ts'
import { BACKUP_LOCK_KEY, createBackup } from '../src/core/backup/create-backup.ts'
import type { BackupManifest } from '../src/core/backup/manifest.ts'
import { restoreBackup } from '../src/core/backup/restore-backup.ts'
import { verifyBackup } from '../src/core/backup/verify-backup.ts'
import { MODULES } from '../src/modules/index.ts'
import { type Bastide, startBastide } from '../src/server.ts'
import { createLocalFileStore } from '../src/storage/local-file-store.ts'
import { createS3FileStore } from '../src/storage/s3-file-store.ts'
import { signIn, signUp } from './support/auth.ts'
import {
  ADMIN_KEY,
  createTestDatabase,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from './support/harness.ts'
import { bastideS3Env, startS3rver, type TestS3 } from './support/s3.ts'

const MIGRATIONS = MODULES.map((m) => ({ module: m.id, migrations: m.migrations ?? [] }))
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const admin = { authorization: `Bearer ${ADMIN_KEY}` }

/** A request to an app in-process, as admin unless headers say otherwise. */
async function call(
  app: Bastide['app'],
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = admin,
) {
  const init: RequestInit = { method, headers: { ...headers } }
  if (body instanceof FormData) init.body = body
  else if (body instanceof Uint8Array) init.body = body
  else if (body !== undefined) {
    init.body = JSON.stringify(body)
    ;(init.headers as Record<string, string>)['content-type'] = 'application/json'
  }
  const res = await app.request(url, init)
  const buf = new Uint8Array(await res.arrayBuffer())
  let json: any
  try {
    json = JSON.parse(new TextDecoder().decode(buf))
  } catch {}
  return { status: res.status, body: json, bytes: buf }
}

/** A server started on an existing (restored) database and data directory, as `bastide serve` would. */
async function startOn(dbUrl: string, dataDir: string, env: Record<string, string> = {}) {
  const config = loadConfig({
    BASTIDE_DATA_DIR: dataDir,
    DATABASE_URL: dbUrl,
    BASTIDE_ADMIN_KEY: ADMIN_KEY,
    PORT: '0',
    BASTIDE_LOG_LEVEL: 'silent',
    BASTIDE_SECRET: TEST_SECRET,
    BASTIDE_AUTH_RATE_LIMIT: '100000',
    BASTIDE_CONSOLE_DIR: 'off',
    ...env,
  })
  const bastide = await startBastide(config, { listen: false, log: pino({ level: 'silent' }) })
  // What the auth helpers need of a TestServer.
  const api: TestServer['api'] = async (method, p, body, o = {}) => {
    const headers: Record<string, string> = { ...o.headers }
    if ((o.as ?? 'admin') === 'admin') Object.assign(headers, admin)
    else if (o.as !== 'anon') headers.authorization = `Bearer ${o.as}`
    const r = await call(bastide.app, method, p, body, headers)
    return { status: r.status, body: r.body, headers: new Headers() }
  }
  return { bastide, api } as unknown as TestServer
}

interface Op {
  readonly n: number
  readonly started: number
  acked?: number
  bytes: Uint8Array
}

describe('backups', () => {
  let s: TestServer
  let dir: string
  let archive: string
  let manifest: BackupManifest
  /** When createBackup was called, and when it reported its snapshot taken (performance.now()). */
  let backupCalledAt = 0
  let snapshotAt = 0
  const ops: Op[] = []
  const hello = randomBytes(70_000)
  const target = { dbUrl: '', dataDir: '', drop: async () => {} }
  let restored: TestServer

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bastide-backup-test-'))
    s = await startTestServer()
    const app = s.bastide.app
    expect((await call(app, 'POST', '/api/storage/buckets', { name: 'docs' })).status).toBe(201)
    expect((await call(app, 'PUT', '/api/storage/buckets/docs/objects/hello.bin', hello)).status).toBe(201)
    const tags = await call(app, 'POST', '/api/collections', {
      name: 'tags',
      fields: [{ name: 'label', type: 'text', unique: true }],
    })
    expect(tags.status).toBe(201)
    const posts = await call(app, 'POST', '/api/collections', {
      name: 'posts',
      fields: [
        { name: 'title', type: 'text', required: true },
        { name: 'n', type: 'number', options: { integer: true } },
        { name: 'parent', type: 'relation', options: { collection: 'posts' } },
        { name: 'tags', type: 'relation', options: { collection: 'tags', multiple: true } },
        { name: 'cover', type: 'file', options: { bucket: 'docs' } },
      ],
      rules: { list: '', view: '' },
    })
    expect(posts.status).toBe(201)
    await signUp(s, 'alice-backup@example.com', { password: 'correct horse battery staple' })
    const tag = await call(app, 'POST', '/api/collections/tags/records', { label: 'news' })
    const root = await call(app, 'POST', '/api/collections/posts/records', { title: 'root', n: -1 })
    const child = await call(app, 'POST', '/api/collections/posts/records', {
      title: 'child',
      n: -2,
      parent: root.body.id,
      tags: [tag.body.id],
    })
    expect(child.status).toBe(201)
  })

  afterAll(async () => {
    await restored?.bastide.close()
    await target.drop()
    await s?.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** Creates posts with a cover file, one after the other, until stopped; remembers when each was acked. */
  function workload(): { stop(): Promise<void>; acked(n: number): Promise<void> } {
    let running = true
    let next = ops.length
    const loop = async () => {
      while (running) {
        const op: Op = { n: next++, started: performance.now(), bytes: randomBytes(1000 + (next % 7) * 3000) }
        ops.push(op)
        const form = new FormData()
        form.append('@json', JSON.stringify({ title: `p-${op.n}`, n: op.n }))
        form.append('cover', new Blob([op.bytes]), `c${op.n}.bin`)
        const r = await call(s.bastide.app, 'POST', '/api/collections/posts/records', form)
        if (r.status !== 201) throw new Error(`write failed: ${r.status} ${JSON.stringify(r.body)}`)
        op.acked = performance.now()
      }
    }
    const loops = [loop(), loop()]
    return {
      stop: async () => {
        running = false
        await Promise.all(loops)
      },
      acked: async (n) => {
        await expect
          .poll(() => ops.filter((o) => o.acked).length, { timeout: 30_000 })
          .toBeGreaterThanOrEqual(n)
      },
    }
  }

  it('takes a consistent backup while records and files are written', async () => {
    const w = workload()
    await w.acked(10)
    archive = path.join(dir, 'b.tar')
    backupCalledAt = performance.now()
    manifest = await createBackup({
      databaseUrl: s.dbUrl,
      store: s.bastide.storage.store,
      secret: TEST_SECRET,
      file: archive,
      onSnapshot: () => {
        snapshotAt = performance.now()
      },
    })
    await w.acked(ops.filter((o) => o.acked).length + 5)
    await w.stop()
    expect(fs.existsSync(archive)).toBe(true)
    expect(fs.readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([])
    expect(manifest.totals.missingFiles).toBe(0)
    expect(manifest.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(
      expect.arrayContaining(['bastide.collections', 'data.users', 'data.posts', 'bastide.objects']),
    )
    expect(manifest.tables.some((t) => t.name === 'migrations' || t.name === 'rate_limits')).toBe(false)
    // Load order: users before the tables that point at them.
    const at = (n: string) => manifest.tables.findIndex((t) => `${t.schema}.${t.name}` === n)
    expect(at('data.users')).toBeLessThan(at('bastide.auth_accounts'))
    expect(at('bastide.buckets')).toBeLessThan(at('bastide.objects'))
    expect((await verifyBackup(archive)).problems).toEqual([])
  })

  it('restores into an empty instance: every acknowledged row, every file, nothing from after', async () => {
    const db = await createTestDatabase()
    Object.assign(target, { dbUrl: db.url, drop: db.drop, dataDir: await mkdtemp(path.join(dir, 'target-')) })
    const store = await createLocalFileStore({ root: path.join(target.dataDir, 'storage') })
    const result = await restoreBackup({
      file: archive,
      databaseUrl: target.dbUrl,
      store,
      secret: TEST_SECRET,
      migrations: MIGRATIONS,
    })
    expect(result.rows).toBe(manifest.totals.rows)
    for (const f of manifest.files) {
      if ('missing' in f) continue
      const body = await store.read(f.key)
      const parts: Buffer[] = []
      for await (const b of body!) parts.push(b as Buffer)
      expect(sha(Buffer.concat(parts))).toBe(f.sha256)
    }
    restored = await startOn(target.dbUrl, target.dataDir)
    const rows = (
      await sql<{ n: number; cover: string | null }>`SELECT n, cover FROM data.posts WHERE n >= 0`.execute(
        restored.bastide.database.db,
      )
    ).rows
    const present = new Map(rows.map((r) => [Number(r.n), r.cover]))
    // Exactly the posts whose transactions the manifest's snapshot sees as committed: PostgreSQL's own visibility
    // rule, applied to each row's creating transaction in the source (posts are never updated here).
    const visible = await sql<{ n: number }>`
      SELECT n FROM data.posts
      WHERE n >= 0 AND pg_visible_in_snapshot(xmin::text::xid8, ${manifest.snapshot.id}::pg_snapshot)`.execute(
      s.bastide.database.db,
    )
    expect([...present.keys()].sort((a, b) => a - b)).toEqual(
      visible.rows.map((r) => Number(r.n)).sort((a, b) => a - b),
    )
    // And as the workload saw it: acknowledged before the backup began → there; begun after the snapshot → absent.
    const before = ops.filter((o) => o.acked !== undefined && o.acked < backupCalledAt)
    const after = ops.filter((o) => o.started > snapshotAt)
    expect(before.length).toBeGreaterThanOrEqual(10)
    expect(after.length).toBeGreaterThan(0)
    for (const o of before) expect(present.has(o.n), `post ${o.n} acked before the backup began`).toBe(true)
    for (const o of after) expect(present.has(o.n), `post ${o.n} started after the snapshot`).toBe(false)
    // No record is half there: each present one has its cover, with the bytes that were uploaded.
    const app = restored.bastide.app
    for (const [n, cover] of present) {
      expect(cover).toBeTruthy()
      const list = await call(
        app,
        'GET',
        `/api/collections/posts/records?filter=${encodeURIComponent(`n = ${n}`)}`,
      )
      const rec = list.body.items[0]
      const file = await call(app, 'GET', `/api/collections/posts/records/${rec.id}/files/cover/${cover}`)
      expect(file.status).toBe(200)
      expect(sha(file.bytes)).toBe(sha(ops.find((o) => o.n === n)!.bytes))
    }
  })

  it('the restored instance passes records, auth and storage acceptance', async () => {
    const app = restored.bastide.app
    const child = await call(
      app,
      'GET',
      `/api/collections/posts/records?filter=${encodeURIComponent("title = 'child'")}&expand=parent,tags`,
    )
    expect(child.status).toBe(200)
    expect(child.body.items).toHaveLength(1)
    expect(child.body.items[0].expand.parent.title).toBe('root')
    expect(child.body.items[0].expand.tags.map((t: any) => t.label)).toEqual(['news'])
    const created = await call(app, 'POST', '/api/collections/posts/records', {
      title: 'after restore',
      n: 100000,
    })
    expect(created.status).toBe(201)
    const token = await signIn(restored, 'alice-backup@example.com', 'correct horse battery staple')
    expect(token).toBeTruthy()
    const file = await call(app, 'GET', '/api/storage/buckets/docs/objects/hello.bin')
    expect(file.status).toBe(200)
    expect(sha(file.bytes)).toBe(sha(hello))
  })

  it('records the restore in the restored instance’s audit log, after the backup’s own entries', async () => {
    const log = await call(restored.bastide.app, 'GET', '/api/admin/audit?perPage=200')
    expect(log.status).toBe(200)
    const [newest, ...older] = log.body.items
    expect(newest).toMatchObject({
      actor: 'cli',
      action: 'backup.restore',
      target: path.basename(archive),
      details: { snapshot: manifest.created, rows: manifest.totals.rows },
    })
    // The source's entries came along, older than the restore's.
    const source = await call(s.bastide.app, 'GET', '/api/admin/audit?perPage=200')
    expect(older.length).toBeGreaterThan(0)
    expect(older.length).toBeLessThanOrEqual(source.body.items.length)
  })

  it('refuses a target that is not empty, and one with another secret', async () => {
    const store = await createLocalFileStore({ root: path.join(target.dataDir, 'storage') })
    const again = restoreBackup({
      file: archive,
      databaseUrl: target.dbUrl,
      store,
      secret: TEST_SECRET,
      migrations: MIGRATIONS,
    })
    await expect(again).rejects.toThrow(/not empty.*collections posts, tags.*user/)
    const other = await createTestDatabase()
    try {
      await expect(
        restoreBackup({
          file: archive,
          databaseUrl: other.url,
          store,
          secret: 'another-secret-0123456789-abcdefghijklmnop',
          migrations: MIGRATIONS,
        }),
      ).rejects.toThrow(/another BASTIDE_SECRET/)
    } finally {
      await other.drop()
    }
  })

  it('is all or nothing: a failure while writing files leaves the target empty, ready for another try', async () => {
    const db = await createTestDatabase()
    try {
      // A storage root that is a regular file: every write fails, for real.
      const blocked = path.join(dir, 'blocked-root')
      await writeFile(blocked, 'not a folder')
      const failing = restoreBackup({
        file: archive,
        databaseUrl: db.url,
        store: await createLocalFileStore({ root: blocked }),
        secret: TEST_SECRET,
        migrations: MIGRATIONS,
      })
      await expect(failing).rejects.toThrow()
      const c = new pg.Client({ connectionString: db.url })
      await c.connect()
      try {
        const left = await c.query(
          `SELECT (SELECT count(*) FROM bastide.collections WHERE NOT system)::int AS collections,
                  (SELECT count(*) FROM data.users)::int AS users,
                  (SELECT count(*) FROM bastide.objects)::int AS objects,
                  to_regclass('data.posts') IS NULL AS no_posts_table`,
        )
        expect(left.rows[0]).toEqual({ collections: 0, users: 0, objects: 0, no_posts_table: true })
      } finally {
        await c.end()
      }
      const ok = await restoreBackup({
        file: archive,
        databaseUrl: db.url,
        store: await createLocalFileStore({ root: await mkdtemp(path.join(dir, 'retry-')) }),
        secret: TEST_SECRET,
        migrations: MIGRATIONS,
      })
      expect(ok.rows).toBe(manifest.totals.rows)
    } finally {
      await db.drop()
    }
  })

  it('refuses a backup whose migrations are newer than this code', async () => {
    const db = await createTestDatabase()
    try {
      const older = MIGRATIONS.map((m) => (m.module === 'storage' ? { ...m, migrations: [] } : m))
      await expect(
        restoreBackup({
          file: archive,
          databaseUrl: db.url,
          store: await createLocalFileStore({ root: path.join(dir, 'unused') }),
          secret: TEST_SECRET,
          migrations: older,
        }),
      ).rejects.toThrow(/module storage is unknown here\. Upgrade first/)
    } finally {
      await db.drop()
    }
  })

  it('verify names a flipped byte, in a plain and in a gzipped archive', async () => {
    const bytes = await readFile(archive)
    const entry = manifest.files.find((f) => !('missing' in f) && f.key.endsWith(''))!
    // The file's bytes sit in the tar right after its 512-byte header.
    const at = bytes.indexOf(Buffer.from(`files/${entry.key}`))
    const flipped = Buffer.from(bytes)
    flipped[at + 512 + 10]! ^= 0xff
    const bad = path.join(dir, 'flipped.tar')
    await writeFile(bad, flipped)
    const r = await verifyBackup(bad)
    expect(r.ok).toBe(false)
    expect(r.problems).toEqual([`files/${entry.key}: sha256 mismatch`])

    const gz = path.join(dir, 'b.tar.gz')
    await createBackup({
      databaseUrl: s.dbUrl,
      store: s.bastide.storage.store,
      secret: TEST_SECRET,
      file: gz,
      gzip: true,
    })
    expect((await verifyBackup(gz)).ok).toBe(true)
    const zipped = await readFile(gz)
    zipped[Math.floor(zipped.length / 2)]! ^= 0x01
    await writeFile(gz, zipped)
    const z = await verifyBackup(gz)
    expect(z.ok).toBe(false)
    expect(z.problems.join('\n')).toMatch(/unreadable|mismatch/)
  })

  it('holds the backup lock from its snapshot to its end, for the garbage collector to wait on', async () => {
    const tryLock = () =>
      s.bastide.database.db
        .transaction()
        .execute(
          async (trx) =>
            (
              await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${BACKUP_LOCK_KEY}) AS ok`.execute(
                trx,
              )
            ).rows[0]!.ok,
        )
    let during: boolean | undefined
    await createBackup({
      databaseUrl: s.dbUrl,
      store: s.bastide.storage.store,
      secret: TEST_SECRET,
      file: path.join(dir, 'locked.tar'),
      onSnapshot: async () => {
        during = await tryLock()
      },
    })
    expect(during).toBe(false)
    expect(await tryLock()).toBe(true)
  })

  it('lists a file whose bytes are gone (deleted after the snapshot) as missing, never skips it silently', async () => {
    const { blob } = (
      await sql<{ blob: string }>`SELECT blob FROM bastide.objects WHERE key = 'hello.bin'`.execute(
        s.bastide.database.db,
      )
    ).rows[0]!
    // What the garbage collector does to an object deleted after the snapshot was taken.
    await s.bastide.storage.store.remove(blob)
    const file = path.join(dir, 'missing.tar')
    const m = await createBackup({
      databaseUrl: s.dbUrl,
      store: s.bastide.storage.store,
      secret: TEST_SECRET,
      file,
    })
    expect(m.totals.missingFiles).toBe(1)
    expect(m.files.find((f) => f.key === blob)).toEqual({ key: blob, size: hello.length, missing: true })
    expect((await verifyBackup(file)).ok).toBe(true)
  })

  describe('on S3', () => {
    let s3: TestS3
    let src: TestServer
    beforeAll(async () => {
      s3 = await startS3rver()
      src = await startTestServer({ env: bastideS3Env(s3) })
      expect((await call(src.bastide.app, 'POST', '/api/storage/buckets', { name: 'media' })).status).toBe(
        201,
      )
      expect(
        (await call(src.bastide.app, 'PUT', '/api/storage/buckets/media/objects/a.bin', hello)).status,
      ).toBe(201)
    })
    afterAll(async () => {
      await src?.close()
      await s3?.close()
    })

    it('backs up from S3 and restores into another S3 bucket', async () => {
      const file = path.join(dir, 's3.tar.gz')
      const m = await createBackup({
        databaseUrl: src.dbUrl,
        store: src.bastide.storage.store,
        secret: TEST_SECRET,
        file,
        gzip: true,
      })
      expect(m.files).toHaveLength(1)
      const db = await createTestDatabase()
      const env = bastideS3Env(s3)
      const store = await createS3FileStore(loadConfig({ ...env, BASTIDE_SECRET: TEST_SECRET }).s3!)
      await restoreBackup({ file, databaseUrl: db.url, store, secret: TEST_SECRET, migrations: MIGRATIONS })
      const dataDir = await mkdtemp(path.join(dir, 's3-target-'))
      const t = await startOn(db.url, dataDir, env)
      try {
        const got = await call(t.bastide.app, 'GET', '/api/storage/buckets/media/objects/a.bin')
        expect(got.status).toBe(200)
        expect(sha(got.bytes)).toBe(sha(hello))
      } finally {
        await t.bastide.close()
        await db.drop()
      }
    })
  })
})

describe('backups of more than one entry per table and of large files', () => {
  let s: TestServer
  let dir: string
  beforeAll(async () => {
    s = await startTestServer()
    dir = await mkdtemp(path.join(os.tmpdir(), 'bastide-backup-large-'))
  })
  afterAll(async () => {
    await s?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('splits a table into 8 MiB entries (rows cut across them) and spools a file past 8 MiB', async () => {
    const app = s.bastide.app
    expect(
      (await call(app, 'POST', '/api/collections', { name: 'big', fields: [{ name: 'body', type: 'text' }] }))
        .status,
    ).toBe(201)
    // About 12 MB of rows, written straight into the collection's table.
    await sql`INSERT INTO data.big (id, body)
      SELECT gen_random_uuid(), repeat(md5(i::text), 32) FROM generate_series(1, 12000) AS i`.execute(
      s.bastide.database.db,
    )
    expect((await call(app, 'POST', '/api/storage/buckets', { name: 'docs' })).status).toBe(201)
    const large = randomBytes(9 * 1024 * 1024 + 123)
    expect((await call(app, 'PUT', '/api/storage/buckets/docs/objects/large.bin', large)).status).toBe(201)
    const file = path.join(dir, 'large.tar.gz')
    const m = await createBackup({
      databaseUrl: s.dbUrl,
      store: s.bastide.storage.store,
      secret: TEST_SECRET,
      file,
      gzip: true,
    })
    const big = m.tables.find((t) => t.name === 'big')!
    expect(big.rows).toBe(12000)
    expect(big.entries.length).toBeGreaterThan(1)
    expect((await verifyBackup(file)).ok).toBe(true)
    const db = await createTestDatabase()
    const dataDir = await mkdtemp(path.join(dir, 'target-'))
    await restoreBackup({
      file,
      databaseUrl: db.url,
      store: await createLocalFileStore({ root: path.join(dataDir, 'storage') }),
      secret: TEST_SECRET,
      migrations: MIGRATIONS,
    })
    const t = await startOn(db.url, dataDir)
    try {
      const n = await sql<{
        n: number
        h: string
      }>`SELECT count(*)::int AS n, md5(string_agg(body, '' ORDER BY body)) AS h FROM data.big`.execute(
        t.bastide.database.db,
      )
      const src = await sql<{
        n: number
        h: string
      }>`SELECT count(*)::int AS n, md5(string_agg(body, '' ORDER BY body)) AS h FROM data.big`.execute(
        s.bastide.database.db,
      )
      expect(n.rows[0]).toEqual(src.rows[0])
      const got = await call(t.bastide.app, 'GET', '/api/storage/buckets/docs/objects/large.bin')
      expect(sha(got.bytes)).toBe(sha(large))
    } finally {
      await t.bastide.close()
      await db.drop()
    }
  })
})
