import { SYNC_MUTATION_OPS, type SyncPushRequest } from '@bastide/protocol'
import { Hono } from 'hono'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { CollectionsService } from '../../core/collections/service.ts'
import type { RecordsService } from '../../core/records/service.ts'
import type { MergeRunner } from '../../core/sync/merge.ts'
import { pushMutations } from '../../core/sync/push.ts'
import type { SyncSettingsStore } from '../../core/sync/settings.ts'
import type { Db } from '../../db/create-db.ts'
import { errors, parseInput } from '../../errors/index.ts'
import type { AppEnv } from '../../http/context.ts'
import { jsonBody } from '../../http/middleware/json-body.ts'

/** Mutations in one push at most. */
export const MAX_PUSH_MUTATIONS = 500

const mutation = z.object({
  id: z.string().min(1).max(100),
  collection: z.string().min(1).max(100),
  op: z.enum(SYNC_MUTATION_OPS),
  recordId: z.guid(),
  data: z.record(z.string(), z.unknown()).optional(),
  baseVersion: z.number().int().min(0).optional(),
  at: z.iso.datetime({ offset: true }),
})

/** POST /api/sync/push's body (SyncPushRequest). */
export const pushRequest = z.object({
  clientId: z.guid(),
  mutations: z.array(mutation).max(MAX_PUSH_MUTATIONS),
})

/**
 * POST /api/sync/push: a device's queued offline writes, applied in order as the caller (core/sync/push.ts).
 * A malformed body is a 400 for the whole push, a caller without a credential a 401; a mutation the server
 * refuses is `rejected` in its result, and the others still apply; one that failed for a reason that may pass
 * is a 503 for the push, to be retried (core/sync/push.ts).
 */
export function syncPushRoutes(deps: {
  db: Db
  records: RecordsService
  collections: CollectionsService
  settings: SyncSettingsStore
  merge: MergeRunner
  log: Logger
}): Hono<AppEnv> {
  const r = new Hono<AppEnv>()
  r.post('/push', async (c) => {
    // Mutation ids are kept per caller: callers without a credential would all share one namespace.
    if (c.var.principal.kind === 'anonymous')
      throw errors.unauthorized('Sign in to push changes: a push is applied as a user (or an API key).')
    const body = parseInput(pushRequest, await jsonBody(c)) as SyncPushRequest
    return c.json(await pushMutations(deps, c.var.principal, body))
  })
  return r
}
