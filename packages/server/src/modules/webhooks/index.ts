import type { RecordEvent } from '@bastide/protocol'
import { z } from 'zod'
import { hostListSetting } from '../../core/net/host-list.ts'
import { createWebhookDeliveries } from '../../core/webhooks/deliveries.ts'
import { createSubscriptionIndex, listenForChanges } from '../../core/webhooks/subscription-index.ts'
import { createWebhookSecrets } from '../../core/webhooks/webhook-secrets.ts'
import { createWebhooksService, WEBHOOKS_CHANNEL } from '../../core/webhooks/webhooks-service.ts'
import { defineModule } from '../define-module.ts'
import { migrations } from './migrations/index.ts'
import { webhooksOpenApi } from './openapi.ts'
import { webhookRoutes } from './routes.ts'

const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v)
const int = (min: number, max: number, def: number) =>
  z.preprocess(unsetIfEmpty, z.coerce.number().int().min(min).max(max).default(def))

/** Record changes go to this queue (the record outbox, in the writing transaction), one job per change. */
export const FAN_OUT_QUEUE = 'webhooks'
/** One job per delivery (its id the delivery's), retried with exponential backoff; dead letters to `….dead`. */
export const DELIVERY_QUEUE = 'webhooks.deliver'

/**
 * Outbound webhooks: record changes of a collection POSTed as signed JSON to a URL. A change is enqueued in the
 * transaction that writes it (so it survives a crash), fanned out to one delivery per matching webhook, and each
 * delivery is retried until a 2xx or out of retries; every attempt is kept. See docs/webhooks.md.
 */
export const webhooksModule = defineModule({
  id: 'webhooks',
  config: z.object({
    /** Hosts deliveries may reach although they resolve to loopback/private/link-local addresses (comma-separated). */
    BASTIDE_WEBHOOKS_ALLOW_HOSTS: hostListSetting(),
    /** Attempts after the first before a delivery is failed. */
    BASTIDE_WEBHOOKS_RETRIES: int(0, 20, 8),
    /** The first retry's delay; each next one doubles it. */
    BASTIDE_WEBHOOKS_RETRY_DELAY_SECONDS: int(1, 3600, 30),
    /** How long a receiver has to answer. */
    BASTIDE_WEBHOOKS_TIMEOUT_MS: int(100, 60_000, 10_000),
    /** Deliveries (and their attempts) older than this are removed. */
    BASTIDE_WEBHOOKS_RETENTION_DAYS: int(1, 3650, 30),
  }),
  migrations,
  async start({ db, databaseUrl, secret, actions, log, settings, use }) {
    const jobs = use('jobs')
    const collections = use('collections')
    const allowHosts = settings.BASTIDE_WEBHOOKS_ALLOW_HOSTS
    // Loaded once `webhooks` exists (below): the outbox asks it on every record write.
    const index = createSubscriptionIndex(() => webhooks.subscriptions())
    const reload = () =>
      void index.reload().catch((err) => log.warn({ err: (err as Error).message }, 'webhooks: reload failed'))
    const webhooks = createWebhooksService({
      db,
      actions,
      collections,
      secrets: createWebhookSecrets(secret),
      allowHosts,
      changed: reload,
    })
    await index.reload()
    const deliveries = createWebhookDeliveries({
      db,
      webhooks,
      collections,
      allowHosts,
      timeoutMs: settings.BASTIDE_WEBHOOKS_TIMEOUT_MS,
      enqueue: (deliveryId, o) => jobs.send(DELIVERY_QUEUE, { deliveryId }, o),
    })
    const retries = {
      retryLimit: settings.BASTIDE_WEBHOOKS_RETRIES,
      retryDelaySeconds: settings.BASTIDE_WEBHOOKS_RETRY_DELAY_SECONDS,
      retryBackoff: true,
    }
    await jobs.work<RecordEvent>(FAN_OUT_QUEUE, { retryLimit: 5, retryDelaySeconds: 2 }, async (job) => {
      await deliveries.fanOut(job.data)
    })
    await jobs.work<{ deliveryId: string }>(
      DELIVERY_QUEUE,
      // A stuck attempt (a node died mid-send) is retried once the receiver's time is well past.
      { ...retries, expireInSeconds: Math.ceil(settings.BASTIDE_WEBHOOKS_TIMEOUT_MS / 1000) + 60 },
      async (job) => {
        await deliveries.attempt(job.data.deliveryId, job.attempt > job.retryLimit)
      },
    )
    const unsubscribe = use('recordOutbox').subscribe(FAN_OUT_QUEUE, (collection, action) =>
      index.wants(collection, action),
    )
    const stopListening = await listenForChanges({
      databaseUrl,
      channel: WEBHOOKS_CHANNEL,
      onChange: reload,
      onError: (err) => log.warn({ err: (err as Error).message }, 'webhooks: listener'),
    })
    return {
      routes: [{ path: '/api/admin/webhooks', app: webhookRoutes({ webhooks, deliveries }) }],
      openapi: webhooksOpenApi,
      jobs: [
        // The safety net behind NOTIFY (a node that was disconnected when a webhook changed).
        { name: 'reload-subscriptions', everyMs: 60_000, run: () => index.reload() },
        {
          name: 'prune-deliveries',
          everyMs: 60 * 60_000,
          firstAfterMs: 60_000,
          run: async () => {
            const days = settings.BASTIDE_WEBHOOKS_RETENTION_DAYS
            const removed = await deliveries.prune(new Date(Date.now() - days * 86_400_000))
            if (removed > 0) log.info({ removed }, 'webhooks: old deliveries removed')
          },
        },
      ],
      async close() {
        unsubscribe()
        await stopListening()
      },
    }
  },
})
