import { randomUUID } from 'node:crypto'
import os from 'node:os'
import type { BackupRun } from '@bastide/protocol'
import { sql } from 'kysely'
import type { Logger } from 'pino'
import { BACKUP_RUN_LOCK_CLASS } from '../../core/backup/backup-lock.ts'
import { createBackup } from '../../core/backup/create-backup.ts'
import { instanceTag } from '../../core/backup/manifest.ts'
import type { Db } from '../../db/create-db.ts'
import type { FileStore } from '../../storage/file-store.ts'
import { type ArchiveInfo, archiveName, type BackupTarget, isOwnArchive } from './backup-target.ts'
import type { CronSchedule } from './cron.ts'

export type { BackupRun }

export interface BackupService {
  /**
   * Runs the schedule's latest due slot (at most SLOT_GRACE_MS old) unless a node already claimed it; first
   * marks failed the runs of nodes that stopped mid-run.
   */
  runDue(now?: Date): Promise<BackupRun | undefined>
  /** Runs a backup to the target now. */
  runNow(): Promise<BackupRun>
  listRuns(limit?: number): Promise<BackupRun[]>
  listArchives(): Promise<ArchiveInfo[]>
}

/** A slot missed by longer than this (every node down) is skipped, not caught up later. */
export const SLOT_GRACE_MS = 5 * 60_000

/**
 * Scheduled backups: on every node the job asks for the due slot; the first node to insert the run's row (slot
 * is unique) runs it, the others see the conflict and do nothing, so a slot runs once across the cluster.
 * Each run is recorded (running → done/failed); after a success, retention keeps the newest `keep` archives.
 */
export function createBackupService(deps: {
  readonly db: Db
  readonly databaseUrl: string
  readonly store: FileStore
  readonly secret: string
  readonly target: BackupTarget
  readonly cron: CronSchedule | undefined
  readonly keep: number
  readonly log: Logger
}): BackupService {
  const { db, target, log } = deps
  const node = `${os.hostname()}:${process.pid}`
  const tag = instanceTag(deps.secret)

  /**
   * The run's lock is taken on a connection kept for the whole run (and used for nothing else), before its row
   * is inserted: whoever sees the row `running` while the lock is free knows the node is gone (see
   * markStaleRuns). The row itself is written through the pool, so that a run whose lock session broke still
   * records how it ended (`done` even over a `failed` written meanwhile: the archive is there).
   */
  async function run(slot: Date | null): Promise<BackupRun | undefined> {
    const id = randomUUID()
    const ran = await db.connection().execute(async (conn) => {
      await sql`SELECT pg_advisory_lock(${BACKUP_RUN_LOCK_CLASS}, hashtext(${id}))`.execute(conn)
      try {
        return await claimAndRun(id, slot)
      } finally {
        // A session that broke mid-run took its locks with it; nothing to release then.
        await sql`SELECT pg_advisory_unlock(${BACKUP_RUN_LOCK_CLASS}, hashtext(${id}))`
          .execute(conn)
          .catch(() => {})
      }
    })
    return ran ? getRun(id) : undefined
  }

  async function claimAndRun(id: string, slot: Date | null): Promise<boolean> {
    const claimed = await sql<{ id: string }>`
      INSERT INTO bastide.backup_runs (id, slot, trigger, node, target, status)
      VALUES (${id}, ${slot?.toISOString() ?? null}, ${slot ? 'schedule' : 'request'}, ${node}, ${target.description}, 'running')
      ON CONFLICT (slot) DO NOTHING RETURNING id`.execute(db)
    if (claimed.rows.length === 0) return false
    const name = archiveName(new Date(), tag)
    log.info({ run: id, target: target.description, archive: name }, 'backup started')
    try {
      let manifest: Awaited<ReturnType<typeof createBackup>> | undefined
      const { size } = await target.store(name, async (file) => {
        manifest = await createBackup({
          databaseUrl: deps.databaseUrl,
          store: deps.store,
          secret: deps.secret,
          file,
          gzip: true,
        })
      })
      await sql`UPDATE bastide.backup_runs SET status = 'done', finished = now(), archive = ${name}, size = ${size},
        error = NULL, totals = ${JSON.stringify(manifest!.totals)}::jsonb,
        snapshot = ${JSON.stringify(manifest!.snapshot)}::jsonb
        WHERE id = ${id}`.execute(db)
      if (manifest!.totals.missingFiles > 0)
        log.warn(
          { run: id, missing: manifest!.totals.missingFiles },
          'backup lists files deleted after its snapshot as missing',
        )
      log.info({ run: id, archive: name, size, ...manifest!.totals }, 'backup done')
      await prune()
    } catch (err) {
      const message = (err as Error).message
      await sql`UPDATE bastide.backup_runs SET status = 'failed', finished = now(), error = ${message} WHERE id = ${id}`.execute(
        db,
      )
      log.error({ run: id, err: message }, 'backup failed')
    }
    return true
  }

  /**
   * Marks failed every `running` run whose lock nobody holds: its node crashed or lost its database session
   * mid-run. The lock is tried per row in this statement's own transaction (released when it ends), so a
   * live run, whose node holds its lock, is left alone.
   */
  async function markStaleRuns(): Promise<void> {
    const r = await sql<{ id: string; node: string }>`
      UPDATE bastide.backup_runs SET status = 'failed', finished = now(),
        error = 'The node running it (' || node || ') stopped before it finished.'
      WHERE id IN (
        SELECT id FROM bastide.backup_runs
        WHERE status = 'running' AND pg_try_advisory_xact_lock(${BACKUP_RUN_LOCK_CLASS}, hashtext(id::text)))
      RETURNING id, node`.execute(db)
    for (const run of r.rows)
      log.warn({ run: run.id, node: run.node }, 'backup run left running by a stopped node marked failed')
  }

  /** Keeps our newest `keep` archives; another instance's (another tag) in the same target are not ours to remove. */
  async function prune(): Promise<void> {
    const swept = await target.sweepPartials(tag)
    if (swept.length > 0) log.info({ swept }, 'partial backups left by a crash removed')
    const own = (await target.list()).filter((a) => isOwnArchive(a.name, tag))
    const old = own.slice(deps.keep).map((a) => a.name)
    if (old.length === 0) return
    await target.remove(old)
    log.info({ removed: old, keep: deps.keep }, 'old backups removed')
  }

  async function getRun(id: string): Promise<BackupRun> {
    const r = await sql<BackupRun>`SELECT * FROM bastide.backup_runs WHERE id = ${id}`.execute(db)
    return toRun(r.rows[0]!)
  }

  return {
    async runDue(now = new Date()) {
      await markStaleRuns()
      if (!deps.cron) return undefined
      const minute = Math.floor(now.getTime() / 60_000) * 60_000
      for (let t = minute; t > now.getTime() - SLOT_GRACE_MS; t -= 60_000) {
        if (deps.cron.matches(new Date(t))) return run(new Date(t))
      }
      return undefined
    },
    async runNow() {
      return (await run(null))!
    },
    async listRuns(limit = 50) {
      // Also here: with no schedule nothing else looks, and the list must not show a dead run as running.
      await markStaleRuns()
      const r =
        await sql<BackupRun>`SELECT * FROM bastide.backup_runs ORDER BY started DESC, id LIMIT ${limit}`.execute(
          db,
        )
      return r.rows.map(toRun)
    },
    listArchives: () => target.list(),
  }
}

function toRun(r: any): BackupRun {
  return { ...r, size: r.size === null ? null : Number(r.size) }
}
