import { FUNCTIONS_ERROR_STATUS, type FunctionsErrorCode } from '@bastide/protocol'
import { z } from 'zod'
import { createFunctionEngine, type FunctionEngine } from '../../core/functions/function-engine.ts'
import { createInvocationLog, pruneInvocations } from '../../core/functions/invocation-log.ts'
import { createFunctionRuntime } from '../../core/functions/runtime/index.ts'
import { secretsKey } from '../../core/functions/sealed-secret.ts'
import { hostListSetting } from '../../core/net/host-list.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'
import { functionsOpenApi } from './openapi.ts'
import { functionHttpRoutes } from './public-routes.ts'
import { functionAdminRoutes } from './routes.ts'

declare module '../define-module.ts' {
  interface Services {
    /** Functions as this node runs them (the active versions, their triggers and invocations). */
    functions: FunctionEngine
  }
}

/** How long an unused sandbox stays warm, ms. */
const IDLE_MS = 60_000
/** How often a node looks for deploys, rollbacks, deletes and secret changes made on other nodes, ms. */
const SYNC_MS = 2_000

/**
 * Functions: TypeScript modules deployed through /api/admin/functions (versions kept, rollback, sealed
 * secrets), run in Deno sandboxes (core/functions/runtime) on HTTP at /api/functions/<name>, record and
 * storage changes, auth hooks and cron slots; event triggers go through the job queue (retries, dead
 * letters). Every invocation is logged (GET /api/admin/functions/:name/invocations). See docs/functions.md.
 */
export const functionsModule = defineModule({
  id: 'functions',
  config: z.object({
    /** Wall time of one invocation at most, ms (a function's `timeoutMs` may only lower it). */
    BASTIDE_FUNCTIONS_TIMEOUT_MS: z.coerce.number().int().min(100).max(900_000).default(30_000),
    /** Heap of one sandbox at most, MiB (a function's `memoryMb` may only lower it). */
    BASTIDE_FUNCTIONS_MEMORY_MB: z.coerce.number().int().min(16).max(8192).default(128),
    /** Sandboxes (Deno processes, one per function version) kept warm on a node at most. */
    BASTIDE_FUNCTIONS_MAX_WORKERS: z.coerce.number().int().min(1).max(256).default(8),
    /**
     * Hosts a function's `allowHosts` may name (comma-separated): without the operator's say-so, no function reaches
     * a loopback, private or link-local address, whoever deploys it.
     */
    BASTIDE_FUNCTIONS_ALLOW_HOSTS: hostListSetting(),
    /** Hours of invocation logs kept (pruned every 10 minutes). */
    BASTIDE_FUNCTIONS_LOG_RETENTION_HOURS: z.coerce.number().int().min(1).max(8760).default(168),
  }),
  migrations,
  errorCodes: Object.keys(FUNCTIONS_ERROR_STATUS) as FunctionsErrorCode[],
  async start({ db, log, settings, secret, actions, baseUrl, use, fetch }) {
    const jobs = use('jobs')
    const storage = use('storage')
    const auth = use('auth')
    const collections = use('collections')
    const runtime = createFunctionRuntime({
      log,
      maxWorkers: settings.BASTIDE_FUNCTIONS_MAX_WORKERS,
      idleMs: IDLE_MS,
      // The spare sandbox is started with the default heap cap, the one most functions run with.
      spareMemoryMb: settings.BASTIDE_FUNCTIONS_MEMORY_MB,
    })
    const invocations = createInvocationLog({ db, log })
    const key = secretsKey(secret)
    const engine = createFunctionEngine({
      db,
      log,
      runtime,
      jobs,
      outbox: use('recordOutbox'),
      invocations,
      secretsKey: key,
      maxTimeoutMs: settings.BASTIDE_FUNCTIONS_TIMEOUT_MS,
      maxMemoryMb: settings.BASTIDE_FUNCTIONS_MEMORY_MB,
      allowHosts: settings.BASTIDE_FUNCTIONS_ALLOW_HOSTS,
      fetch,
      baseUrl,
      mailer: auth.mailer,
      push: use('push'),
    })
    const offStorage = storage.objects.onChange(engine.onObjectChange)
    auth.hooks.set(engine.authHooks)
    try {
      await engine.sync()
    } catch (err) {
      // Not fatal: the sync job tries again (a function whose queue could not be declared is retried there).
      log.warn({ err: (err as Error).message }, 'functions: first sync failed')
    }
    const retentionHours = settings.BASTIDE_FUNCTIONS_LOG_RETENTION_HOURS
    return {
      provides: { functions: engine },
      routes: [
        {
          path: '/api/admin/functions',
          app: functionAdminRoutes({
            db,
            actions,
            runtime,
            engine,
            secretsKey: key,
            flushInvocations: () => invocations.flush(),
            manifestContext: {
              hasCollection: (n) => collections.find(n) !== undefined,
              hasBucket: async (n) => (await storage.buckets.find(n)) !== undefined,
              allowHosts: settings.BASTIDE_FUNCTIONS_ALLOW_HOSTS,
            },
          }),
        },
        { path: '/api/functions', app: functionHttpRoutes({ engine, baseUrl }) },
      ],
      openapi: functionsOpenApi,
      authenticators: [engine.authenticator],
      jobs: [
        { name: 'sync', everyMs: SYNC_MS, run: engine.sync },
        { name: 'flush-invocations', everyMs: 1_000, run: invocations.flush },
        {
          name: 'prune-invocations',
          firstAfterMs: 60_000,
          everyMs: 600_000,
          run: async () => {
            const n = await pruneInvocations(db, retentionHours)
            if (n) log.debug({ deleted: n, retentionHours }, 'old function invocations deleted')
          },
        },
      ],
      close: async () => {
        auth.hooks.set(undefined)
        offStorage()
        await engine.close()
        await runtime.close()
        await invocations.close()
      },
    }
  },
})
