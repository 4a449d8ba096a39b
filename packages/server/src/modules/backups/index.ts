import { z } from 'zod'
import { ConfigError } from '../../config/load-config.ts'
import { createBackup } from '../../core/backup/create-backup.ts'
import { defineModule } from '../define-module.ts'
import { createBackupService } from './backup-service.ts'
import { backupS3, openBackupTarget, targetConflict } from './backup-target.ts'
import { parseCron } from './cron.ts'
import { migrations } from './migrations/index.ts'
import { backupsOpenApi } from './openapi.ts'
import { backupRoutes } from './routes.ts'

const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v)
const optional = z.preprocess(unsetIfEmpty, z.string().optional())

/**
 * Scheduled backups (core/backup's engine, from the server): BASTIDE_BACKUP_CRON says when, BASTIDE_BACKUP_TARGET
 * where (a folder, `file:///dir`, or `s3://bucket/prefix`), BASTIDE_BACKUP_KEEP how many archives to keep. Each
 * slot runs once across all nodes (a claimed row); runs are recorded and listed at GET /api/admin/backups.
 */
export const backupsModule = defineModule({
  id: 'backups',
  config: z.object({
    /** Five-field cron, UTC (`0 3 * * *`: daily at 03:00), or @daily, @hourly... Unset: no scheduled backups. */
    BASTIDE_BACKUP_CRON: optional.superRefine((v, ctx) => {
      if (v === undefined) return
      try {
        parseCron(v)
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `is not a cron expression: ${(err as Error).message}` })
      }
    }),
    /** Default with a cron: `<BASTIDE_DATA_DIR>/backups`. */
    BASTIDE_BACKUP_TARGET: optional.refine(
      (v) => v === undefined || !/^[a-z][a-z0-9+.-]*:\/\//i.test(v) || /^(file|s3):\/\//.test(v),
      {
        message: 'must be a folder, file:///folder or s3://bucket/prefix',
      },
    ),
    BASTIDE_BACKUP_KEEP: z.preprocess(unsetIfEmpty, z.coerce.number().int().min(1).max(10_000).default(7)),
    /** An S3 target elsewhere than the server's storage; unset: BASTIDE_S3_* are used. */
    BASTIDE_BACKUP_S3_ENDPOINT: optional,
    BASTIDE_BACKUP_S3_REGION: optional,
    BASTIDE_BACKUP_S3_ACCESS_KEY: optional,
    BASTIDE_BACKUP_S3_SECRET_KEY: optional,
  }),
  migrations,
  async start({ config, settings, db, databaseUrl, secret, log, actions, use }) {
    const cron = settings.BASTIDE_BACKUP_CRON ? parseCron(settings.BASTIDE_BACKUP_CRON) : undefined
    const spec = settings.BASTIDE_BACKUP_TARGET ?? (cron ? `${config.dataDir}/backups` : undefined)
    const s3 = backupS3(settings, config)
    const conflict = spec ? targetConflict(spec, s3, config) : undefined
    if (conflict) throw new ConfigError([{ variable: 'BASTIDE_BACKUP_TARGET', message: conflict }])
    const target = spec ? await openBackupTarget(spec, s3) : undefined
    const service = target
      ? createBackupService({
          db,
          databaseUrl,
          store: use('storage').store,
          secret,
          target,
          cron,
          keep: settings.BASTIDE_BACKUP_KEEP,
          log,
        })
      : undefined
    if (cron && target) log.info({ cron: cron.source, target: target.description }, 'scheduled backups on')
    return {
      routes: [
        {
          path: '/api/admin/backups',
          app: backupRoutes({
            db,
            actions,
            service,
            makeArchive: (file) =>
              createBackup({ databaseUrl, store: use('storage').store, secret, file, gzip: true }),
            schedule: () => ({
              cron: cron?.source ?? null,
              next: cron?.next(new Date())?.toISOString() ?? null,
              target: target?.description ?? null,
              keep: settings.BASTIDE_BACKUP_KEEP,
            }),
          }),
        },
      ],
      openapi: backupsOpenApi,
      jobs:
        cron && service
          ? [
              {
                name: 'scheduled-backup',
                // Every 30 s: each cron minute is seen, and the row claim makes it run once.
                everyMs: 30_000,
                firstAfterMs: 5_000,
                run: async () => {
                  await service.runDue()
                },
              },
            ]
          : [],
    }
  },
})
