import type { RecordAction, Webhook, WebhookWithSecret } from '@bastide/protocol'
import { sql, type Transaction } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import { type AdminActions, audited } from '../../events/admin-actions.ts'
import type { CollectionsService } from '../collections/service.ts'
import { uuidv7 } from '../records/uuidv7.ts'
import { checkDestination } from './check-destination.ts'
import { type SealedWebhookSecret, secretHint, type WebhookSecrets } from './webhook-secrets.ts'

/** NOTIFY channel telling every node that the webhooks changed (each re-reads which changes to enqueue). */
export const WEBHOOKS_CHANNEL = 'bastide_webhooks'

/** How long the previous secret keeps signing after a rotation, so receivers can switch without losing deliveries. */
export const ROTATION_GRACE_MS = 24 * 60 * 60 * 1000

export interface WebhookInputData {
  readonly url: string
  readonly collection: string
  readonly actions: readonly RecordAction[]
  readonly description?: string | null | undefined
  readonly enabled?: boolean | undefined
}

/** An enabled webhook's subscription, as the record outbox consults it. */
export interface WebhookSubscription {
  readonly collection: string
  readonly actions: readonly RecordAction[]
}

export interface WebhooksService {
  list(): Promise<Webhook[]>
  /** NOT_FOUND for an unknown (or malformed) id. */
  get(id: string): Promise<Webhook>
  create(input: WebhookInputData, actor: string): Promise<WebhookWithSecret>
  update(id: string, patch: Partial<WebhookInputData>, actor: string): Promise<Webhook>
  /** Its deliveries and their history go with it. */
  remove(id: string, actor: string): Promise<void>
  /** A new secret, shown once; the previous one also signs for ROTATION_GRACE_MS. */
  rotateSecret(id: string, actor: string): Promise<WebhookWithSecret>
  /** The secrets a delivery is signed with now: the current one, then the previous one while its grace lasts. */
  signingSecrets(id: string): Promise<string[]>
  subscriptions(): Promise<WebhookSubscription[]>
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isUuid(s: string): boolean {
  return UUID.test(s)
}

interface Row {
  id: string
  url: string
  collection: string
  actions: RecordAction[]
  description: string | null
  enabled: boolean
  secret: SealedWebhookSecret
  secret_hint: string
  previous_secret: SealedWebhookSecret | null
  previous_secret_expires: string | null
  created: string
  updated: string
}

function toWebhook(r: Row): Webhook {
  return {
    id: r.id,
    url: r.url,
    collection: r.collection,
    actions: r.actions,
    description: r.description,
    enabled: r.enabled,
    secretHint: r.secret_hint,
    createdAt: r.created,
    updatedAt: r.updated,
  }
}

/** What the audit log keeps of a webhook: never its secret. */
function audited_(w: Webhook) {
  const { secretHint: _s, createdAt: _c, updatedAt: _u, ...rest } = w
  return rest
}

const ACTION_ORDER: readonly RecordAction[] = ['create', 'update', 'delete']

/**
 * Webhooks' CRUD. The destination is checked on every save (http(s), public unless allow-listed); the collection
 * must exist (or be `*`). Each change NOTIFYs WEBHOOKS_CHANNEL in its transaction and calls `changed` after
 * commit, so this node and the others update which record changes they enqueue.
 */
export function createWebhooksService(deps: {
  readonly db: Db
  readonly actions: AdminActions
  readonly collections: CollectionsService
  readonly secrets: WebhookSecrets
  readonly allowHosts: readonly string[]
  readonly changed: () => void
}): WebhooksService {
  const { db, secrets } = deps

  async function row(id: string, trx: Db | Transaction<any> = db, lock = false): Promise<Row> {
    if (!isUuid(id)) throw errors.notFound('Webhook')
    let q = trx.selectFrom('bastide.webhooks').selectAll().where('id', '=', id)
    if (lock) q = q.forUpdate()
    const r = (await q.executeTakeFirst()) as Row | undefined
    if (!r) throw errors.notFound('Webhook')
    return r
  }

  function checkCollection(name: string): void {
    if (name !== '*' && !deps.collections.find(name))
      throw errors.validation({
        collection: { code: 'unknown_collection', message: `There is no collection "${name}".` },
      })
  }

  const notify = (trx: Transaction<any>) => sql`SELECT pg_notify(${WEBHOOKS_CHANNEL}, '')`.execute(trx)
  const sortActions = (a: readonly RecordAction[]) => ACTION_ORDER.filter((x) => a.includes(x))

  async function done<T>(p: Promise<T>): Promise<T> {
    const v = await p
    deps.changed()
    return v
  }

  return {
    async list() {
      const rows = (await db
        .selectFrom('bastide.webhooks')
        .selectAll()
        .orderBy('created')
        .orderBy('id')
        .execute()) as Row[]
      return rows.map(toWebhook)
    },
    async get(id) {
      return toWebhook(await row(id))
    },
    async create(input, actor) {
      checkCollection(input.collection)
      const url = await checkDestination(input.url, deps.allowHosts)
      const secret = secrets.generate()
      const id = uuidv7()
      return done(
        audited(db, deps.actions, { actor, action: 'webhook.create', target: id }, async (trx) => {
          const r = (await trx
            .insertInto('bastide.webhooks')
            .values({
              id,
              url,
              collection: input.collection,
              actions: sortActions(input.actions),
              description: input.description ?? null,
              enabled: input.enabled ?? true,
              secret: JSON.stringify(secrets.seal(secret)),
              secret_hint: secretHint(secret),
            })
            .returningAll()
            .executeTakeFirstOrThrow()) as Row
          await notify(trx)
          const w = toWebhook(r)
          return { result: { ...w, secret }, after: audited_(w) }
        }),
      )
    },
    async update(id, patch, actor) {
      if (patch.collection !== undefined) checkCollection(patch.collection)
      const url = patch.url === undefined ? undefined : await checkDestination(patch.url, deps.allowHosts)
      return done(
        audited(db, deps.actions, { actor, action: 'webhook.update', target: id }, async (trx) => {
          const before = toWebhook(await row(id, trx, true))
          const r = (await trx
            .updateTable('bastide.webhooks')
            .set({
              ...(url !== undefined ? { url } : {}),
              ...(patch.collection !== undefined ? { collection: patch.collection } : {}),
              ...(patch.actions !== undefined ? { actions: sortActions(patch.actions) } : {}),
              ...(patch.description !== undefined ? { description: patch.description } : {}),
              ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
              updated: sql`now()`,
            })
            .where('id', '=', id)
            .returningAll()
            .executeTakeFirstOrThrow()) as Row
          await notify(trx)
          const after = toWebhook(r)
          return { result: after, before: audited_(before), after: audited_(after) }
        }),
      )
    },
    async remove(id, actor) {
      await done(
        audited(db, deps.actions, { actor, action: 'webhook.delete', target: id }, async (trx) => {
          const before = toWebhook(await row(id, trx, true))
          await trx.deleteFrom('bastide.webhooks').where('id', '=', id).execute()
          await notify(trx)
          return { result: undefined, before: audited_(before) }
        }),
      )
    },
    async rotateSecret(id, actor) {
      const secret = secrets.generate()
      return audited(
        db,
        deps.actions,
        { actor, action: 'webhook.rotate-secret', target: id },
        async (trx) => {
          const old = await row(id, trx, true)
          const r = (await trx
            .updateTable('bastide.webhooks')
            .set({
              secret: JSON.stringify(secrets.seal(secret)),
              secret_hint: secretHint(secret),
              previous_secret: JSON.stringify(old.secret),
              previous_secret_expires: new Date(Date.now() + ROTATION_GRACE_MS).toISOString(),
              updated: sql`now()`,
            })
            .where('id', '=', id)
            .returningAll()
            .executeTakeFirstOrThrow()) as Row
          const w = toWebhook(r)
          return {
            result: { ...w, secret },
            before: { secretHint: old.secret_hint },
            after: { secretHint: w.secretHint },
          }
        },
      )
    },
    async signingSecrets(id) {
      const r = await row(id)
      const out = [secrets.open(r.secret)]
      if (
        r.previous_secret &&
        r.previous_secret_expires &&
        Date.parse(r.previous_secret_expires) > Date.now()
      )
        out.push(secrets.open(r.previous_secret))
      return out
    },
    async subscriptions() {
      return (await db
        .selectFrom('bastide.webhooks')
        .select(['collection', 'actions'])
        .where('enabled', '=', true)
        .execute()) as WebhookSubscription[]
    },
  }
}
