import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { sql } from 'kysely'
import pg from 'pg'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BACKUP_RUN_LOCK_CLASS } from '../src/core/backup/backup-lock.ts'
import { restoreBackup } from '../src/core/backup/restore-backup.ts'
import { verifyBackup } from '../src/core/backup/verify-backup.ts'
import { createDb } from '../src/db/create-db.ts'
import { createBackupService } from '../src/modules/backups/backup-service.ts'
import { ARCHIVE_NAME, openBackupTarget } from '../src/modules/backups/backup-target.ts'
import { parseCron } from '../src/modules/backups/cron.ts'
import { MODULES } from '../src/modules/index.ts'
import { createLocalFileStore } from '../src/storage/local-file-store.ts'
import { createS3FileStore } from '../src/storage/s3-file-store.ts'
import {
  createKey,
  createTestDatabase,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from './support/harness.ts'
import { bastideS3Env, startS3rver, type TestS3 } from './support/s3.ts'

/** Scheduled backups: BASTIDE_BACKUP_CRON / _TARGET / _KEEP, runs recorded, one run per slot across nodes. */
describe('scheduled backups', () => {
  let dir: string
  let s: TestServer

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bastide-backup-schedule-'))
    s = await startTestServer({
      env: {
        BASTIDE_BACKUP_CRON: '0 3 * * *',
        BASTIDE_BACKUP_TARGET: `file://${dir}`,
        BASTIDE_BACKUP_KEEP: '2',
      },
    })
    expect(
      (await s.api('POST', '/api/collections', { name: 'notes', fields: [{ name: 'body', type: 'text' }] }))
        .status,
    ).toBe(201)
  })
  afterAll(async () => {
    await s?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('runs on request, records each run, and keeps the newest KEEP archives', async () => {
    const made: string[] = []
    for (let i = 0; i < 3; i++) {
      await s.api('POST', '/api/collections/notes/records', { body: `n${i}` })
      const r = await s.api('POST', '/api/admin/backups')
      expect(r.status).toBe(201)
      expect(r.body).toMatchObject({ status: 'done', trigger: 'request', slot: null })
      expect(r.body.archive).toMatch(ARCHIVE_NAME)
      made.push(r.body.archive)
    }
    const files = fs.readdirSync(dir).filter((f) => ARCHIVE_NAME.test(f))
    expect(files.sort()).toEqual(made.slice(1).sort())
    expect((await verifyBackup(path.join(dir, made[2]!))).ok).toBe(true)
    const list = await s.api('GET', '/api/admin/backups')
    expect(list.status).toBe(200)
    expect(list.body.schedule).toMatchObject({ cron: '0 3 * * *', target: dir, keep: 2 })
    expect(list.body.schedule.next).toMatch(/T03:00:00\.000Z$/)
    expect(list.body.runs).toHaveLength(3)
    expect(list.body.archives.map((a: any) => a.name)).toEqual([made[2], made[1]])
    const audit = await s.api('GET', '/api/admin/audit?action=backup.*')
    expect(audit.body.items.map((e: any) => [e.actor, e.action, e.target])).toContainEqual([
      'admin',
      'backup.run',
      made[2],
    ])
  })

  it('is for admins only', async () => {
    const key = await createKey(s, ['schema', 'records:read', 'storage:read'])
    expect((await s.api('GET', '/api/admin/backups', undefined, { as: key })).status).toBe(403)
    expect((await s.api('GET', '/api/admin/backups', undefined, { as: 'anon' })).status).toBe(401)
  })

  it("is in the admins' API document, not in the public one", async () => {
    const full = await s.api('GET', '/api/openapi.json')
    expect(Object.keys(full.body.paths)).toEqual(
      expect.arrayContaining(['/api/admin/backups', '/api/admin/backups/download']),
    )
    const pub = await s.api('GET', '/api/openapi.json', undefined, { as: 'anon' })
    expect(Object.keys(pub.body.paths).filter((p) => p.includes('backups'))).toEqual([])
  })

  it('runs a due slot once across nodes (a claimed row), and skips slots that are not due', async () => {
    const target = await openBackupTarget(dir, undefined)
    const node = () =>
      createBackupService({
        db: s.bastide.database.db,
        databaseUrl: s.dbUrl,
        store: s.bastide.storage.store,
        secret: TEST_SECRET,
        target,
        cron: parseCron('0 3 * * *'),
        keep: 2,
        log: pino({ level: 'silent' }),
      })
    const at = new Date('2026-12-03T03:00:20Z')
    const [a, b] = await Promise.all([node().runDue(at), node().runDue(at)])
    expect([a, b].filter((r) => r !== undefined)).toHaveLength(1)
    expect((a ?? b)!).toMatchObject({ status: 'done', trigger: 'schedule', slot: '2026-12-03T03:00:00.000Z' })
    // Four minutes late still runs it (once); ten minutes late, or between slots, nothing runs.
    expect(await node().runDue(new Date('2026-12-03T03:04:00Z'))).toBeUndefined()
    expect(await node().runDue(new Date('2026-12-04T03:10:00Z'))).toBeUndefined()
    expect(await node().runDue(new Date('2026-12-04T12:00:00Z'))).toBeUndefined()
    const late = await node().runDue(new Date('2026-12-05T03:04:00Z'))
    expect(late?.slot).toBe('2026-12-05T03:00:00.000Z')
    const n = await sql<{
      n: number
    }>`SELECT count(*)::int AS n FROM bastide.backup_runs WHERE slot IS NOT NULL`.execute(
      s.bastide.database.db,
    )
    expect(n.rows[0]!.n).toBe(2)
  })

  it('marks failed a run left running by a node that stopped, and leaves live runs alone', async () => {
    const db = s.bastide.database.db
    // Two other nodes, each holding its run's lock on its own session as BackupService does, rows running.
    const nodes = await Promise.all(
      ['crashed-host:1', 'live-host:2'].map(async (name) => {
        const client = new pg.Client({ connectionString: s.dbUrl })
        await client.connect()
        const id = randomUUID()
        await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [BACKUP_RUN_LOCK_CLASS, id])
        await client.query(
          `INSERT INTO bastide.backup_runs (id, trigger, node, target, status) VALUES ($1, 'request', $2, 'x', 'running')`,
          [id, name],
        )
        const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number
        return { id, client, pid }
      }),
    )
    const [crashed, live] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    crashed.client.on('error', () => {})
    const status = async (id: string) =>
      (await s.api('GET', '/api/admin/backups')).body.runs.find((r: any) => r.id === id)
    try {
      expect(await status(crashed.id)).toMatchObject({ status: 'running' })
      // The node dies: its session ends (as when the process is killed), and its lock with it.
      await sql`SELECT pg_terminate_backend(${crashed.pid})`.execute(db)
      await expect.poll(async () => (await status(crashed.id)).status, { timeout: 15_000 }).toBe('failed')
      expect(await status(crashed.id)).toMatchObject({
        error: expect.stringContaining('crashed-host:1'),
        finished: expect.any(String),
      })
      expect(await status(live.id)).toMatchObject({ status: 'running', error: null })
      // The scheduler's look does the same (here with no slot due).
      const other = createBackupService({
        db,
        databaseUrl: s.dbUrl,
        store: s.bastide.storage.store,
        secret: TEST_SECRET,
        target: await openBackupTarget(dir, undefined),
        cron: parseCron('0 3 * * *'),
        keep: 2,
        log: pino({ level: 'silent' }),
      })
      expect(await other.runDue(new Date('2026-12-04T12:00:00Z'))).toBeUndefined()
      expect(await status(live.id)).toMatchObject({ status: 'running' })
      // A real run, looked at by another node while it goes on, is never taken for a dead one.
      const seen = new Set<string>()
      let settled = false
      const asked = s.api('POST', '/api/admin/backups').finally(() => {
        settled = true
      })
      const others = new Set<string>([crashed.id, live.id])
      while (!settled) for (const r of await other.listRuns(5)) if (!others.has(r.id)) seen.add(r.status)
      const r = await asked
      expect(r.status).toBe(201)
      expect(seen.has('failed')).toBe(false)
      expect(await status(r.body.id)).toMatchObject({ status: 'done', error: null })
    } finally {
      await sql`UPDATE bastide.backup_runs SET status = 'failed' WHERE id = ${live.id}`.execute(db)
      await live.client.end()
      await crashed.client.end().catch(() => {})
    }
  })

  it('a restored instance shows the run that took its backup as ended, not as running forever', async () => {
    const r = await s.api('POST', '/api/admin/backups')
    expect(r.status).toBe(201)
    const db = await createTestDatabase()
    try {
      const store = await createLocalFileStore({ root: path.join(dir, 'restored-storage') })
      await restoreBackup({
        file: path.join(dir, r.body.archive),
        databaseUrl: db.url,
        store,
        secret: TEST_SECRET,
        migrations: MODULES.map((m) => ({ module: m.id, migrations: m.migrations ?? [] })),
      })
      const restored = createDb({ connectionString: db.url, max: 1 })
      try {
        const rows = await sql<{ id: string; status: string; error: string | null }>`
          SELECT id, status, error FROM bastide.backup_runs WHERE id = ${r.body.id}`.execute(restored.db)
        // In the snapshot it was running (its row is written before the backup starts).
        expect(rows.rows).toEqual([
          { id: r.body.id, status: 'failed', error: expect.stringContaining('see the source instance') },
        ])
      } finally {
        await restored.close()
      }
    } finally {
      await db.drop()
    }
  })

  it('records a failed run with its error, and answers 503', async () => {
    const blocked = path.join(dir, 'not-a-folder')
    await writeFile(blocked, 'x')
    const t = await startTestServer({ env: { BASTIDE_BACKUP_TARGET: blocked }, allowInternalErrors: true })
    try {
      const r = await t.api('POST', '/api/admin/backups')
      expect(r.status).toBe(503)
      expect(r.body.details.run).toMatchObject({ status: 'failed' })
      const list = await t.api('GET', '/api/admin/backups')
      expect(list.body.runs[0]).toMatchObject({
        status: 'failed',
        error: expect.stringContaining('not-a-folder'),
      })
    } finally {
      await t.close()
    }
  })

  it('rejects a bad cron expression at start, naming the variable', async () => {
    await expect(startTestServer({ env: { BASTIDE_BACKUP_CRON: '61 * * * *' } })).rejects.toThrow(
      /BASTIDE_BACKUP_CRON: is not a cron expression: minute "61"/,
    )
  })

  describe('to S3', () => {
    let s3: TestS3
    let t: TestServer
    beforeAll(async () => {
      s3 = await startS3rver()
      t = await startTestServer({
        env: {
          ...bastideS3Env(s3),
          BASTIDE_BACKUP_TARGET: 's3://bst-backups/nightly',
          BASTIDE_BACKUP_KEEP: '1',
        },
      })
    })
    afterAll(async () => {
      await t?.close()
      await s3?.close()
    })

    it('uploads archives under the prefix, with retention', async () => {
      const first = await t.api('POST', '/api/admin/backups')
      expect(first.status).toBe(201)
      const second = await t.api('POST', '/api/admin/backups')
      expect(second.status).toBe(201)
      const list = await t.api('GET', '/api/admin/backups')
      expect(list.body.schedule.target).toBe('s3://bst-backups/nightly')
      expect(list.body.archives).toEqual([
        expect.objectContaining({ name: second.body.archive, size: second.body.size }),
      ])
      // The object really is in the backup bucket, under the prefix, and is a whole backup.
      const bucket = await createS3FileStore({
        endpoint: s3.endpoint,
        region: s3.region,
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
        pathStyle: true,
        bucket: 'bst-backups',
      })
      const local = path.join(dir, 'from-s3.tar.gz')
      await pipeline((await bucket.read(`nightly/${second.body.archive}`))!, fs.createWriteStream(local))
      expect((await verifyBackup(local)).ok).toBe(true)
    })
  })
})
