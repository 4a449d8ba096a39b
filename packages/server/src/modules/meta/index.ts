import { metaRoutes } from '../../http/routes/meta.ts'
import { defineModule } from '../define-module.ts'

/** Health, and the API reference: the OpenAPI document (live collections plus every module's part) and its page. */
export const metaModule = defineModule({
  id: 'meta',
  start({ db, config, openApiParts, use }) {
    return {
      routes: [
        {
          path: '/api',
          app: metaRoutes({ db, collections: use('collections'), publicUrl: config.publicUrl, openApiParts }),
        },
      ],
    }
  },
})
