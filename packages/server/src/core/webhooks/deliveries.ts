import type {
  RecordEvent,
  WebhookAttempt,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookDeliveryStatus,
  WebhookEvent,
  WebhookPayload,
} from '@bastide/protocol'
import { RECORD_EVENT_BY_ACTION } from '@bastide/protocol'
import { sql } from 'kysely'
import type { Db } from '../../db/create-db.ts'
import { inTransaction, type Tx } from '../../db/transaction.ts'
import { errors } from '../../errors/index.ts'
import type { CollectionsService } from '../collections/service.ts'
import { jobIdFrom } from '../jobs/job-id.ts'
import { uuidv7 } from '../records/uuidv7.ts'
import { type AttemptResult, sendDelivery } from './send-delivery.ts'
import { isUuid, type WebhooksService } from './webhooks-service.ts'

/** Queues a delivery job (`jobs.send` of the jobs module, in the given transaction). */
export type EnqueueDelivery = (
  deliveryId: string,
  o: { readonly tx: Tx; readonly id?: string },
) => Promise<unknown>

export interface WebhookDeliveries {
  /**
   * One record change: a delivery per enabled webhook that wants it, recorded and queued in one transaction.
   * Ids derive from (webhook, record sequence number), so a repeated fan-out (a retried job) adds nothing.
   */
  fanOut(event: RecordEvent): Promise<number>
  /**
   * One HTTP attempt of a delivery, recorded. Throws when it did not succeed, so the queue retries it; on the
   * `final` attempt the delivery is marked failed first. A delivery whose webhook is gone is dropped.
   */
  attempt(deliveryId: string, final: boolean): Promise<void>
  list(
    webhookId: string,
    o: { readonly cursor?: string | undefined; readonly limit: number },
  ): Promise<WebhookDeliveryPage>
  get(webhookId: string, deliveryId: string): Promise<WebhookDelivery>
  /** Queues a delivery again (same id, same payload: the receiver can tell it is a repeat), whatever its status. */
  redeliver(webhookId: string, deliveryId: string): Promise<WebhookDelivery>
  /** Sends a `ping` now, once (no retries), and answers with its recorded delivery. */
  ping(webhookId: string): Promise<WebhookDelivery>
  /** Removes deliveries (and their attempts) created before `before`. */
  prune(before: Date): Promise<number>
}

interface DeliveryRow {
  id: string
  n: number
  webhook_id: string
  event: WebhookEvent
  record_id: string | null
  payload: WebhookPayload
  status: WebhookDeliveryStatus
  created: string
  updated: string
}

export function createWebhookDeliveries(deps: {
  readonly db: Db
  readonly webhooks: WebhooksService
  readonly collections: CollectionsService
  readonly enqueue: EnqueueDelivery
  readonly allowHosts: readonly string[]
  readonly timeoutMs: number
}): WebhookDeliveries {
  const { db } = deps

  /** Webhooks leave the server: hidden fields (tokens, internal notes) stay behind, as for any non-admin reader. */
  function visible(collection: string, r: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const out = { ...r }
    for (const f of deps.collections.find(collection)?.fields ?? []) if (f.hidden) delete out[f.name]
    return out
  }

  async function deliveryRow(webhookId: string, deliveryId: string): Promise<DeliveryRow> {
    if (!isUuid(webhookId) || !isUuid(deliveryId)) throw errors.notFound('Delivery')
    const r = (await db
      .selectFrom('bastide.webhook_deliveries')
      .selectAll()
      .where('id', '=', deliveryId)
      .where('webhook_id', '=', webhookId)
      .executeTakeFirst()) as DeliveryRow | undefined
    if (!r) throw errors.notFound('Delivery')
    return r
  }

  async function withAttempts(rows: readonly DeliveryRow[], payload: boolean): Promise<WebhookDelivery[]> {
    if (rows.length === 0) return []
    const attempts = (await db
      .selectFrom('bastide.webhook_attempts')
      .select(['delivery_id', 'at', 'status_code', 'duration_ms', 'response_body', 'error'])
      .where(
        'delivery_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('n')
      .execute()) as {
      delivery_id: string
      at: string
      status_code: number | null
      duration_ms: number
      response_body: string | null
      error: string | null
    }[]
    const by = new Map<string, WebhookAttempt[]>()
    for (const a of attempts) {
      let list = by.get(a.delivery_id)
      if (!list) by.set(a.delivery_id, (list = []))
      list.push({
        at: a.at,
        statusCode: a.status_code,
        durationMs: a.duration_ms,
        responseBody: a.response_body,
        error: a.error,
      })
    }
    return rows.map((r) => ({
      id: r.id,
      webhookId: r.webhook_id,
      event: r.event,
      status: r.status,
      recordId: r.record_id,
      createdAt: r.created,
      updatedAt: r.updated,
      attempts: by.get(r.id) ?? [],
      ...(payload ? { payload: r.payload } : {}),
    }))
  }

  async function attempt(deliveryId: string, final: boolean): Promise<void> {
    const d = (await db
      .selectFrom('bastide.webhook_deliveries as d')
      .innerJoin('bastide.webhooks as w', 'w.id', 'd.webhook_id')
      .select(['d.id', 'd.event', 'd.payload', 'w.id as webhook_id', 'w.url', 'w.enabled'])
      .where('d.id', '=', deliveryId)
      .executeTakeFirst()) as
      | {
          id: string
          event: WebhookEvent
          payload: WebhookPayload
          status: WebhookDeliveryStatus
          webhook_id: string
          url: string
          enabled: boolean
        }
      | undefined
    // Deleted with its webhook meanwhile: nothing left to deliver, nor anyone to tell. Delivered already (by a
    // redelivery while this job waited for its retry): not sent again, and its status not turned back.
    if (!d || d.status === 'delivered') return
    const secrets = d.enabled ? await deps.webhooks.signingSecrets(d.webhook_id).catch(() => null) : null
    const result: AttemptResult = !d.enabled
      ? { statusCode: null, durationMs: 0, responseBody: null, error: 'The webhook is disabled.' }
      : !secrets
        ? {
            statusCode: null,
            durationMs: 0,
            responseBody: null,
            // Sealed under another BASTIDE_SECRET: nothing can be signed until the secret is rotated.
            error: 'The signing secret cannot be decrypted (BASTIDE_SECRET changed?): rotate it.',
          }
        : await sendDelivery({
            url: d.url,
            payload: d.payload,
            secrets,
            allowHosts: deps.allowHosts,
            timeoutMs: deps.timeoutMs,
          })
    const ok = result.error === null
    // A disabled webhook is not retried: redeliver once it is enabled again.
    const status: WebhookDeliveryStatus = ok ? 'delivered' : final || !d.enabled ? 'failed' : 'pending'
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('bastide.webhook_attempts')
        .values({
          delivery_id: d.id,
          status_code: result.statusCode,
          duration_ms: result.durationMs,
          response_body: result.responseBody,
          error: result.error,
        })
        .execute()
      await trx
        .updateTable('bastide.webhook_deliveries')
        .set({ status, updated: sql`now()` })
        .where('id', '=', d.id)
        .execute()
    })
    if (!ok && d.enabled) throw new Error(result.error ?? 'not delivered')
  }

  return {
    async fanOut(event) {
      const hooks = await db
        .selectFrom('bastide.webhooks')
        .select('id')
        .where('enabled', '=', true)
        .where((eb) => eb.or([eb('collection', '=', event.collection), eb('collection', '=', '*')]))
        .where(sql<boolean>`${event.action} = ANY(actions)`)
        .execute()
      if (hooks.length === 0) return 0
      const record = visible(event.collection, event.record)
      const recordId = typeof record.id === 'string' ? record.id : null
      const payloadOf = (id: string): WebhookPayload => ({
        id,
        event: RECORD_EVENT_BY_ACTION[event.action],
        collection: event.collection,
        record,
        ...(event.previous ? { previous: visible(event.collection, event.previous) } : {}),
        at: event.at,
      })
      return inTransaction(db, async (tx) => {
        let added = 0
        for (const h of hooks) {
          const id = jobIdFrom('webhook-delivery', h.id, String(event.seq))
          const inserted = await tx.db
            .insertInto('bastide.webhook_deliveries')
            .values({
              id,
              webhook_id: h.id,
              event: RECORD_EVENT_BY_ACTION[event.action],
              record_id: recordId,
              payload: JSON.stringify(payloadOf(id)),
              status: 'pending',
            })
            .onConflict((oc) => oc.column('id').doNothing())
            .returning('id')
            .executeTakeFirst()
          if (!inserted) continue
          await deps.enqueue(id, { tx, id })
          added++
        }
        return added
      })
    },
    attempt,
    async list(webhookId, o) {
      await deps.webhooks.get(webhookId)
      let q = db
        .selectFrom('bastide.webhook_deliveries')
        .selectAll()
        .where('webhook_id', '=', webhookId)
        .orderBy('n', 'desc')
        .limit(o.limit + 1)
      if (o.cursor !== undefined) q = q.where('n', '<', Number(o.cursor))
      const rows = (await q.execute()) as DeliveryRow[]
      const page = rows.slice(0, o.limit)
      return {
        items: await withAttempts(page, false),
        nextCursor: rows.length > o.limit ? String(page[page.length - 1]!.n) : null,
      }
    },
    async get(webhookId, deliveryId) {
      const [d] = await withAttempts([await deliveryRow(webhookId, deliveryId)], true)
      return d!
    },
    async redeliver(webhookId, deliveryId) {
      await deliveryRow(webhookId, deliveryId)
      await inTransaction(db, async (tx) => {
        await tx.db
          .updateTable('bastide.webhook_deliveries')
          .set({ status: 'pending', updated: sql`now()` })
          .where('id', '=', deliveryId)
          .execute()
        // A fresh job (the first one may still be kept by the queue under the delivery's id); same delivery id.
        await deps.enqueue(deliveryId, { tx })
      })
      const [d] = await withAttempts([await deliveryRow(webhookId, deliveryId)], false)
      return d!
    },
    async ping(webhookId) {
      const w = await deps.webhooks.get(webhookId)
      const id = uuidv7()
      const payload: WebhookPayload = {
        id,
        event: 'ping',
        collection: w.collection,
        record: null,
        at: new Date().toISOString(),
      }
      await db
        .insertInto('bastide.webhook_deliveries')
        .values({
          id,
          webhook_id: w.id,
          event: 'ping',
          record_id: null,
          payload: JSON.stringify(payload),
          status: 'pending',
        })
        .execute()
      // The answer reports the outcome; a failed ping is the receiver's state, not an error of this request.
      await attempt(id, true).catch(() => {})
      const [d] = await withAttempts([await deliveryRow(w.id, id)], true)
      return d!
    },
    async prune(before) {
      const r = await db
        .deleteFrom('bastide.webhook_deliveries')
        .where('created', '<', before.toISOString())
        .executeTakeFirst()
      return Number(r.numDeletedRows)
    },
  }
}
