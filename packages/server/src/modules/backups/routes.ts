import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { Hono } from 'hono'
import { principalId } from '../../core/auth/principal.ts'
import type { Db } from '../../db/create-db.ts'
import { AppError, errors } from '../../errors/index.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import type { AppEnv } from '../../http/context.ts'
import type { BackupService } from './backup-service.ts'

/**
 * /api/admin/backups, for console admins and BASTIDE_ADMIN_KEY only (a backup holds everything, password hashes
 * included, so no API key scope reaches it):
 * GET lists the schedule, the recorded runs and the target's archives; POST runs a backup to the target now;
 * GET /download streams a backup taken now (what `bastide backup create --remote` saves).
 */
export function backupRoutes(deps: {
  readonly db: Db
  /** A run asked for and a download are admin actions (the audit log shows who took the whole data away). */
  readonly actions: AdminActions
  readonly service: BackupService | undefined
  /** Writes a backup of this instance to `file` (gzipped); for GET /download. */
  readonly makeArchive: (file: string) => Promise<{ readonly created: string }>
  readonly schedule: () => {
    readonly cron: string | null
    readonly next: string | null
    readonly target: string | null
    readonly keep: number
  }
}) {
  const r = new Hono<AppEnv>()
  r.use(async (c, next) => {
    const p = c.var.principal
    if (p.kind === 'anonymous') throw errors.unauthorized()
    if (p.kind !== 'admin') throw errors.forbidden('Only console admins (or BASTIDE_ADMIN_KEY) can do this.')
    await next()
  })
  r.get('/', async (c) => {
    const service = deps.service
    return c.json({
      schedule: deps.schedule(),
      runs: service ? await service.listRuns() : [],
      archives: service ? await service.listArchives() : [],
    })
  })
  r.post('/', async (c) => {
    if (!deps.service)
      throw errors.conflict(
        'No backup target is configured: set BASTIDE_BACKUP_TARGET (or BASTIDE_BACKUP_CRON).',
      )
    const run = await deps.service.runNow()
    // The server could not make the backup (target unreachable, disk full): not the caller's mistake, not a bug.
    if (run.status !== 'done') throw new AppError('UNAVAILABLE', `The backup failed: ${run.error}`, { run })
    await deps.actions.record(deps.db, {
      actor: principalId(c.var.principal),
      action: 'backup.run',
      target: run.archive,
      details: { target: run.target, size: run.size },
    })
    return c.json(run, 201)
  })
  /**
   * GET /download: a backup taken now, streamed as it is written to a temporary file and then sent (the tar needs
   * each entry's size before its bytes, so the archive is finished before the first byte goes out); the
   * temporary file is removed once sent or when the client goes away.
   */
  r.get('/download', async (c) => {
    const temp = path.join(os.tmpdir(), `bastide-download-${randomBytes(8).toString('hex')}.tar.gz`)
    try {
      const { created } = await deps.makeArchive(temp)
      const { size } = await stat(temp)
      await deps.actions.record(deps.db, {
        actor: principalId(c.var.principal),
        action: 'backup.download',
        target: null,
        details: { snapshot: created, size },
      })
      const file = createReadStream(temp)
      file.once('close', () => void rm(temp, { force: true }))
      const name = `bastide-backup-${created.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.tar.gz`
      return c.body(Readable.toWeb(file) as ReadableStream, 200, {
        'content-type': 'application/gzip',
        'content-length': String(size),
        'content-disposition': `attachment; filename="${name}"`,
        'cache-control': 'no-store',
      })
    } catch (err) {
      await rm(temp, { force: true })
      throw err
    }
  })
  return r
}
