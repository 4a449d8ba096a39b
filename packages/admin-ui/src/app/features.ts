import { accountFeature } from '../features/account/index.ts'
import { adminsFeature } from '../features/admins/index.ts'
import { auditFeature } from '../features/audit/index.ts'
import { backupsFeature } from '../features/backups/index.ts'
import { collectionsFeature } from '../features/collections/index.ts'
import { filesFeature } from '../features/files/index.ts'
import { functionsFeature } from '../features/functions/index.ts'
import { jobsFeature } from '../features/jobs/index.ts'
import { keysFeature } from '../features/keys/index.ts'
import { logsFeature } from '../features/logs/index.ts'
import { metricsFeature } from '../features/metrics/index.ts'
import { pushFeature } from '../features/push/index.ts'
import { realtimeFeature } from '../features/realtime/index.ts'
import { recordsFeature } from '../features/records/index.ts'
import { schemaFeature } from '../features/schema/index.ts'
import { settingsFeature } from '../features/settings/index.ts'
import { usersFeature } from '../features/users/index.ts'
import { webhooksFeature } from '../features/webhooks/index.ts'
import type { ConsoleFeature } from '../lib/feature.ts'

/** The console's capabilities, in navigation order: one line each. */
export const FEATURES: readonly ConsoleFeature[] = [
  collectionsFeature,
  schemaFeature,
  keysFeature,
  recordsFeature,
  filesFeature,
  functionsFeature,
  jobsFeature,
  webhooksFeature,
  pushFeature,
  usersFeature,
  auditFeature,
  backupsFeature,
  realtimeFeature,
  metricsFeature,
  logsFeature,
  adminsFeature,
  settingsFeature,
  accountFeature,
]
