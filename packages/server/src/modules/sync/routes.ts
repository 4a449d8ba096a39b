import type { SyncCollectionSettings, SyncCollectionSettingsInput, SyncOverview } from '@bastide/protocol'
import { Hono } from 'hono'
import { z } from 'zod'
import type { CollectionsService } from '../../core/collections/service.ts'
import type { SyncChanges } from '../../core/sync/changes.ts'
import { MAX_CHANGES_LIMIT } from '../../core/sync/changes.ts'
import type { SyncSettingsStore } from '../../core/sync/settings.ts'
import { errors } from '../../errors/index.ts'
import type { AppEnv } from '../../http/context.ts'
import { jsonBody } from '../../http/middleware/json-body.ts'
import { requireScope } from '../../http/middleware/require-scope.ts'

/** GET /api/collections/:name/changes' query. */
export const changesQuery = z.object({
  since: z
    .string()
    .max(512)
    .optional()
    .describe('The `cursor` of the previous page; absent: an initial sync.'),
  filter: z
    .string()
    .max(4096)
    .optional()
    .describe('Only records matching this filter (the same for every page of a query: another one resyncs).'),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'limit must be a positive integer')
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_CHANGES_LIMIT, `limit must be between 1 and ${MAX_CHANGES_LIMIT}`)
    .optional()
    .describe(`Changes per page, 1-${MAX_CHANGES_LIMIT} (default 1000).`),
})

/** /api/collections/:name/changes: the pull side of offline sync, under the collection's list and view rules. */
export function syncChangesRoutes(deps: { changes: SyncChanges }) {
  const r = new Hono<AppEnv>()
  r.get('/:name/changes', async (c) => {
    const raw = c.req.query()
    const parsed = changesQuery.safeParse(raw)
    if (!parsed.success)
      throw errors.badRequest('The query string is invalid.', {
        issues: parsed.error.issues.map((i) => ({ param: i.path.join('.'), message: i.message })),
      })
    return c.json(
      await deps.changes.pull(c.req.param('name'), { ...parsed.data, requestQuery: raw }, c.var.principal),
    )
  })
  return r
}

/** /api/admin/sync: which collections sync and how their conflicts resolve (console admins, `schema` keys). */
export function syncAdminRoutes(deps: {
  settings: SyncSettingsStore
  collections: CollectionsService
  overview: () => Promise<SyncOverview>
}) {
  const { settings, collections } = deps
  const r = new Hono<AppEnv>()
  r.use('*', requireScope('schema'))

  r.get('/', async (c) => c.json(await deps.overview()))

  r.get('/collections/:name', async (c) => {
    const name = c.req.param('name')
    const s = await settings.get(name)
    if (s) return c.json(s)
    // Never set: off, with the default policy.
    const never: SyncCollectionSettings = {
      collection: collections.get(name).name,
      enabled: false,
      conflict: 'server_wins',
      mergeFunction: null,
    }
    return c.json(never)
  })

  // The store validates the body (SyncCollectionSettingsInput).
  r.put('/collections/:name', async (c) =>
    c.json(
      await settings.set(
        c.req.param('name'),
        (await jsonBody(c)) as SyncCollectionSettingsInput,
        c.var.principal,
      ),
    ),
  )
  return r
}
