import { z } from 'zod'
import { type StorageRuntime, startStorage } from '../../core/files/start-storage.ts'
import { publicBaseUrl } from '../../http/public-base-url.ts'
import { isStorageUpload, storageRoutes } from '../../http/routes/storage.ts'
import { isResumableUpload, storageUploadRoutes } from '../../http/routes/storage-uploads.ts'
import { storageOpenApi } from '../../openapi/storage-paths.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'

declare module '../define-module.ts' {
  interface Services {
    /** Buckets and objects on local disk or S3, signed URLs, resumable uploads, file fields' attachments. */
    storage: StorageRuntime
  }
}

/** File storage at /api/storage: buckets with rules, objects streamed both ways, tus uploads, reconciliation. */
export const storageModule = defineModule({
  id: 'storage',
  config: z.object({
    /**
     * How long a tus request waits for an upload another request (on any node) holds before it is answered
     * 409 CONFLICT. The holder is asked to let go and does within tus's 3 s drain unless its node is stuck:
     * keep this well above that.
     */
    BASTIDE_STORAGE_UPLOAD_LOCK_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  }),
  migrations,
  async start({ config, settings, db, databaseUrl, log, secret, baseUrl, actions, use }) {
    const collections = use('collections')
    const storage = await startStorage({
      config,
      db,
      databaseUrl,
      uploadLockTimeoutMs: settings.BASTIDE_STORAGE_UPLOAD_LOCK_TIMEOUT_MS,
      log,
      secret,
      actions,
      lookup: (n) => collections.find(n),
    })
    // Absolute URLs handed out (signed URLs, tus Location) never follow a client's Host header.
    const base = publicBaseUrl({
      publicUrl: config.publicUrl,
      fallback: baseUrl,
      trustProxy: config.trustProxy,
    })
    return {
      provides: { storage },
      routes: [
        { path: '/api/storage', app: storageRoutes({ storage, baseUrl: base }) },
        {
          path: '/api/storage/uploads',
          app: storageUploadRoutes({ storage, baseUrl: base, maxFileSize: config.storage.maxFileSize, log }),
        },
      ],
      openapi: storageOpenApi,
      streamsBody: isStorageUpload,
      answersOptions: isResumableUpload,
      // Shortly after start (what a crash left), then every hour.
      jobs: [{ name: 'reconcile', firstAfterMs: 60_000, everyMs: 3_600_000, run: storage.maintain }],
      close: () => storage.close(),
    }
  },
})
