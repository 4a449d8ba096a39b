import { auditModule } from './audit/index.ts'
import { authModule } from './auth/index.ts'
import { backupsModule } from './backups/index.ts'
import { consoleModule } from './console/index.ts'
import { consoleAppModule } from './console-app/index.ts'
import { coreModule } from './core/index.ts'
import type { ModuleDefinition } from './define-module.ts'
import { functionsModule } from './functions/index.ts'
import { homeModule } from './home/index.ts'
import { jobsModule } from './jobs/index.ts'
import { metaModule } from './meta/index.ts'
import { metricsModule } from './metrics/index.ts'
import { pushModule } from './push/index.ts'
import { realtimeModule } from './realtime/index.ts'
import { recordsModule } from './records/index.ts'
import { schemaModule } from './schema/index.ts'
import { settingsModule } from './settings/index.ts'
import { storageModule } from './storage/index.ts'
import { syncModule } from './sync/index.ts'
import { webhooksModule } from './webhooks/index.ts'

/**
 * Every capability of the server, in start order: a module may use what the modules above it provide, its
 * migrations run after theirs, its routes are mounted after theirs, and it closes before them. Adding a
 * capability is one folder under modules/ and one line here (see docs/architecture.md).
 */
export const MODULES: readonly ModuleDefinition<any>[] = [
  coreModule, //     collections (schema as real tables), API keys         /api/collections, /api/admin/keys
  settingsModule, // runtime settings: SMTP, CORS, limits, methods, OAuth  /api/admin/settings
  authModule, //     app users: better-auth, account page                  /api/auth, /account
  storageModule, //  buckets, objects, signed URLs, tus uploads            /api/storage
  recordsModule, //  records CRUD under rules, record files, batches       /api/collections/:c/records, /api/batch
  jobsModule, //     durable job queue, cron, durable record events         /api/admin/jobs
  webhooksModule, // outbound webhooks: signed, retried, delivery history     /api/admin/webhooks
  pushModule, //     push: devices, topics, APNs/FCM/Web Push/UnifiedPush sends  /api/push, /api/admin/push
  functionsModule, // functions: deploy, versions, secrets, triggers, logs   /api/functions, /api/admin/functions
  syncModule, //     offline sync: change log, pull, push, conflict policies /api/collections/:c/changes, /api/sync, /api/admin/sync
  realtimeModule, // live changes, channels, presence (socket.io)          /realtime, /api/realtime/channels
  schemaModule, //   schema as code: export, plan, atomic apply, migrations /api/admin/schema
  consoleModule, //  console admins' sign-in, setup, user management       /api/admin/auth, /api/admin/{setup,users,admins}
  backupsModule, // scheduled backups with retention, runs and archives     /api/admin/backups
  auditModule, //   every admin action, in the transaction that performs it  /api/admin/audit
  metricsModule, //  Prometheus metrics, request logs, the console's summary /metrics, /api/admin/{logs,metrics}
  metaModule, //     health, OpenAPI document, API reference page          /api/health, /api/openapi.json, /api/docs
  consoleAppModule, // the admin console (packages/admin-ui), from its build /_/
  homeModule, //     the home page (browsers go on to the console)         /
]
