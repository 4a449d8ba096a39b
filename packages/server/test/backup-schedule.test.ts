import fs from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { sql } from 'kysely'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyBackup } from '../src/core/backup/verify-backup.ts'
import { createBackupService } from '../src/modules/backups/backup-service.ts'
import { ARCHIVE_NAME, openBackupTarget } from '../src/modules/backups/backup-target.ts'
import { parseCron } from '../src/modules/backups/cron.ts'
import { createS3FileStore } from '../src/storage/s3-file-store.ts'
import { createKey, startTestServer, TEST_SECRET, type TestServer } from './support/harness.ts'
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
