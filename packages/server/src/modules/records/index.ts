import { purgeIdempotencyKeys } from '../../core/idempotency/run-idempotent.ts'
import { createRecordOutbox, type RecordOutboxHub } from '../../core/jobs/record-outbox.ts'
import { createRecordsService, type RecordsService } from '../../core/records/service.ts'
import { batchRoutes } from '../../http/routes/batch.ts'
import { isRecordUpload, recordFileRoutes } from '../../http/routes/record-files.ts'
import { recordRoutes } from '../../http/routes/records.ts'
import { defineModule } from '../define-module.ts'

declare module '../define-module.ts' {
  interface Services {
    /** List, view, create, update and delete records under their collection's rules. */
    records: RecordsService
    /**
     * Durable record events: `subscribe(queue, wants)` enqueues matching changes in the writing transaction
     * (connected to the job queue by the jobs module, which starts right after).
     */
    recordOutbox: RecordOutboxHub
  }
}

/** The records API: CRUD under rules, files in record fields, atomic batches, idempotent retries. */
export const recordsModule = defineModule({
  id: 'records',
  start({ db, bus, use }) {
    const collections = use('collections')
    const storage = use('storage')
    const recordOutbox = createRecordOutbox()
    const records = createRecordsService({
      db,
      collections,
      bus,
      files: storage.attachments,
      outbox: recordOutbox,
    })
    return {
      provides: { records, recordOutbox },
      routes: [
        { path: '/api/collections', app: recordRoutes({ db, records, collections, storage }) },
        { path: '/api/collections', app: recordFileRoutes({ records, collections, storage }) },
        { path: '/api/batch', app: batchRoutes({ db, records }) },
      ],
      // Multipart record writes stream their files (a JSON body keeps the limit; the @json part has its own).
      streamsBody: isRecordUpload,
      jobs: [
        {
          name: 'purge-idempotency-keys',
          everyMs: 3_600_000,
          run: () => purgeIdempotencyKeys(db),
        },
      ],
    }
  },
})
