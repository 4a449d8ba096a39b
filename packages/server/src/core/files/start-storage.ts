import type { Logger } from 'pino'
import type { Config } from '../../config/load-config.ts'
import type { Db } from '../../db/create-db.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import { createFileStore } from '../../storage/create-file-store.ts'
import type { FileStore } from '../../storage/file-store.ts'
import type { Collection } from '../collections/types.ts'
import { createFileAttachments, type FileAttachments } from './attachments.ts'
import { type BucketsService, createBucketsService } from './buckets.ts'
import { createObjectsService, type ObjectsService } from './objects.ts'
import { type ReconcileReport, reconcileStorage } from './reconcile.ts'
import { createResumableUploads, type ResumableUploads } from './resumable-uploads.ts'
import { createUrlSigner, type UrlSigner } from './signed-url.ts'
import { createTransformLimiter } from './transform-image.ts'

export interface StorageRuntime {
  readonly store: FileStore
  readonly buckets: BucketsService
  readonly objects: ObjectsService
  readonly signer: UrlSigner
  /** For records' `file` fields: attach checks, and deleting the objects a record lets go of. */
  readonly attachments: FileAttachments
  /** Resumable (tus) uploads in progress, and how they finish into objects. */
  readonly uploads: ResumableUploads
  /** See reconcileStorage. */
  reconcile(opts?: { graceMs?: number }): Promise<ReconcileReport>
  /**
   * Reconciles (what a crash left: garbage, orphans, temp files) and deletes expired resumable uploads; logs,
   * never throws. The storage module runs it shortly after start, then every hour; one node at a time
   * (advisory lock).
   */
  maintain(): Promise<void>
  close(): Promise<void>
}

/** Storage, wired: the FileStore from config (local disk or S3), buckets, objects, signed URLs, reconciler. */
export async function startStorage(deps: {
  config: Config
  db: Db
  /** The database's URL: resumable uploads lock on a connection of their own. */
  databaseUrl: string
  /** How long a tus request waits for an upload held by another request before a 409. */
  uploadLockTimeoutMs?: number
  log: Logger
  secret: string
  lookup: (name: string) => Collection | undefined
  /** Bucket changes are recorded through this (the audit log). */
  actions?: AdminActions
}): Promise<StorageRuntime> {
  const { config, db, log } = deps
  const store = await createFileStore(config)
  const buckets = createBucketsService({ db, lookup: deps.lookup, actions: deps.actions })
  const objects = createObjectsService({
    db,
    store,
    buckets,
    lookup: deps.lookup,
    limiter: createTransformLimiter(),
    maxFileSize: config.storage.maxFileSize,
    maxImagePixels: config.storage.maxImagePixels,
    log,
  })
  const uploads = createResumableUploads({
    config,
    buckets,
    objects,
    log,
    databaseUrl: deps.databaseUrl,
    ...(deps.uploadLockTimeoutMs !== undefined ? { lockTimeoutMs: deps.uploadLockTimeoutMs } : {}),
  })
  const reconcile = (opts: { graceMs?: number } = {}) =>
    reconcileStorage({ db, store, collectGarbage: () => objects.collectGarbage(), ...opts })
  const maintain = () =>
    reconcile()
      .then((r) => {
        if (r.garbage || r.orphans || r.temp) log.info(r, 'storage reconciled')
      })
      .catch((err) => log.warn({ err: (err as Error).message }, 'storage reconciliation failed'))
      .then(() => uploads.deleteExpired())
      .then((n) => {
        if (n) log.info({ uploads: n }, 'expired resumable uploads deleted')
      })
      .catch((err) => log.warn({ err: (err as Error).message }, 'could not delete expired resumable uploads'))
  log.info({ store: store.kind }, 'storage ready')
  return {
    store,
    buckets,
    objects,
    signer: createUrlSigner(deps.secret),
    attachments: createFileAttachments({ db, buckets, objects, log }),
    uploads,
    reconcile,
    maintain,
    async close() {
      await uploads.close()
      await store.close?.()
    },
  }
}
