import { z } from 'zod'
import { defineModule } from '../define-module.ts'
import { purgeAuditEntries, writeAuditEntry } from './audit-log.ts'
import { migrations } from './migrations/index.ts'
import { auditOpenApi } from './openapi.ts'
import { auditRoutes } from './routes.ts'

/**
 * The audit log: every admin action (schema, buckets, keys, channels, users, setup) recorded in the very
 * transaction that performs it, with actor, action, target and what changed; read at GET /api/admin/audit.
 */
export const auditModule = defineModule({
  id: 'audit',
  config: z.object({
    /** Entries older than this many days are deleted (daily); 0 keeps them forever. */
    BASTIDE_AUDIT_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(0),
  }),
  migrations,
  start({ db, actions, settings, log }) {
    const stop = actions.subscribe(writeAuditEntry)
    const days = settings.BASTIDE_AUDIT_RETENTION_DAYS
    return {
      routes: [{ path: '/api/admin/audit', app: auditRoutes({ db }) }],
      openapi: auditOpenApi,
      jobs:
        days > 0
          ? [
              {
                name: 'purge-old-entries',
                firstAfterMs: 300_000,
                everyMs: 86_400_000,
                run: async () => {
                  const n = await purgeAuditEntries(db, days)
                  if (n) log.info({ deleted: n, retentionDays: days }, 'old audit entries deleted')
                },
              },
            ]
          : [],
      close: async () => {
        stop()
      },
    }
  },
})
