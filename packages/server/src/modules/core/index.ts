import { type ApiKeysService, createApiKeysService } from '../../core/auth/api-keys.ts'
import { type CollectionsService, createCollectionsService } from '../../core/collections/service.ts'
import { adminKeyRoutes } from '../../http/routes/admin-keys.ts'
import { collectionRoutes } from '../../http/routes/collections.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'
import { coreOpenApi } from './openapi.ts'

declare module '../define-module.ts' {
  interface Services {
    /** The live schema: collections, their fields, indexes and rules. */
    collections: CollectionsService
    /** `bst_sk_` API keys (and BASTIDE_ADMIN_KEY). */
    keys: ApiKeysService
  }
}

/** Collections (schema as real tables, kept in step on every node) and API keys: what every other module builds on. */
export const coreModule = defineModule({
  id: 'core',
  migrations,
  async start({ db, bus, actions, database, config, log }) {
    const collections = await createCollectionsService({
      db,
      bus,
      actions,
      onSchemaChange: () => database.schemaChanged(),
    })
    // Schema changes made on other nodes (PostgreSQL NOTIFY) refresh this node's copy.
    const stopListening = await collections.listen(database.pool, (err) =>
      log.warn({ err: (err as Error).message }, 'schema listener'),
    )
    const keys = createApiKeysService({ db, adminKey: config.adminKey, actions })
    return {
      provides: { collections, keys },
      routes: [
        { path: '/api/collections', app: collectionRoutes({ collections }) },
        { path: '/api/admin/keys', app: adminKeyRoutes({ keys }) },
      ],
      openapi: coreOpenApi,
      close: stopListening,
    }
  },
})
