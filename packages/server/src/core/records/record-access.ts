import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { EventBus } from '../../events/bus.ts'
import type { Principal } from '../auth/principal.ts'
import type { CollectionsService } from '../collections/service.ts'
import type { Collection, RuleAction } from '../collections/types.ts'
import type { RecordOutboxSink } from '../jobs/record-outbox.ts'
import { authorize, type Decision } from '../rules/authorize.ts'
import type { Lookup, RuleRequest } from '../rules/index.ts'
import type { FileHooks } from './file-fields.ts'

/** What the read and the write side of the records service share. */
export interface RecordsContext {
  readonly db: Db
  readonly collections: CollectionsService
  readonly bus: EventBus
  /** Storage for `file` fields; without it their keys are kept as plain values. */
  readonly files?: FileHooks | undefined
  /** Durable record events (core/jobs/record-outbox.ts): changes a module subscribed to, enqueued in the write. */
  readonly outbox?: RecordOutboxSink | undefined
  readonly lookup: Lookup
  /**
   * Who may do `action` on `c`'s records (see authorize): a locked list or create is refused outright
   * (403); a locked view, update or delete answers as a record not found, like a rule no row passes.
   */
  readonly access: (
    c: Collection,
    action: RuleAction,
    p: Principal,
    req: Omit<RuleRequest, 'auth'>,
  ) => Decision
}

export function recordsContext(deps: {
  db: Db
  collections: CollectionsService
  bus: EventBus
  files?: FileHooks
  outbox?: RecordOutboxSink
}): RecordsContext {
  const lookup: Lookup = (n) => deps.collections.find(n)
  return {
    ...deps,
    lookup,
    access(c, action, p, req) {
      const scope = action === 'list' || action === 'view' ? 'records:read' : 'records:write'
      const d = authorize(p, { rule: c.rules[action], scope, schema: c, lookup, request: req })
      if (d.kind === 'locked' && (action === 'list' || action === 'create'))
        throw errors.forbidden(`Only admins can ${action} ${c.name} records.`)
      return d
    },
  }
}
