import { createChannelDefinitions } from '../../core/channels/channel-definitions.ts'
import { createSchemaService } from '../../core/schema/schema-service.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'
import { schemaOpenApi } from './openapi.ts'
import { schemaRoutes } from './routes.ts'

/**
 * Schema as code: the instance's collections, buckets and channel definitions as one canonical document, plans
 * against a target, atomic applies and recorded migrations (`bastide schema …`, `bastide migrations …`).
 */
export const schemaModule = defineModule({
  id: 'schema',
  migrations,
  start({ db, actions, use }) {
    const collections = use('collections')
    const schema = createSchemaService({
      db,
      collections,
      buckets: use('storage').buckets,
      channels: createChannelDefinitions({ db, lookup: (n) => collections.find(n), actions }),
      actions,
    })
    return {
      routes: [{ path: '/api/admin/schema', app: schemaRoutes({ schema }) }],
      openapi: schemaOpenApi,
    }
  },
})
