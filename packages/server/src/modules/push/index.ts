import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { hostListSetting } from '../../core/net/host-list.ts'
import { createPushCredentials } from '../../core/push/credentials.ts'
import { createPushDevices } from '../../core/push/devices.ts'
import { createPushPreferences } from '../../core/push/preferences.ts'
import { createPushMessages, type PushMessages, startPushWorkers } from '../../core/push/push-messages.ts'
import { createPushTopics } from '../../core/push/topics.ts'
import { defineModule } from '../define-module.ts'
import { pushMessageRoutes } from './message-routes.ts'
import { migrations } from './migrations/index.ts'
import { pushOpenApi } from './openapi.ts'
import { pushAdminRoutes, pushPublicRoutes } from './routes.ts'

declare module '../define-module.ts' {
  interface Services {
    /** Sends push messages (functions' ctx.push.send). */
    push: PushMessages
  }
}

const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v)
const int = (min: number, max: number, def: number) =>
  z.preprocess(unsetIfEmpty, z.coerce.number().int().min(min).max(max).default(def))
const optionalUrl = z.preprocess(
  unsetIfEmpty,
  z
    .string()
    .refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), 'must be an http(s) URL')
    .transform((v) => v.replace(/\/+$/, ''))
    .optional(),
)

/**
 * Push notifications: devices register their token (APNs, FCM, Web Push, UnifiedPush) at /api/push/devices, subscribe
 * to topics, and messages sent at /api/push/messages (or by functions, ctx.push.send) are fanned out to one delivery
 * per device on the job queue, sent in batches per provider, retried on 429/5xx, and kept with their status. Provider
 * credentials are sealed at rest and edited at /api/admin/push/credentials. See docs/push.md.
 */
export const pushModule = defineModule({
  id: 'push',
  config: z.object({
    /** Hosts Web Push / UnifiedPush endpoints may be on although they resolve to private addresses (comma-separated). */
    BASTIDE_PUSH_ALLOW_HOSTS: hostListSetting(),
    /** Replaces both APNs gateways (api.push.apple.com, api.sandbox.push.apple.com): a proxy, or a test peer. */
    BASTIDE_PUSH_APNS_ORIGIN: optionalUrl,
    /** Replaces https://fcm.googleapis.com. */
    BASTIDE_PUSH_FCM_ORIGIN: optionalUrl,
    /** A PEM file of extra certificate authorities trusted for APNs, FCM and the OAuth token endpoint. */
    BASTIDE_PUSH_CA_FILE: z.preprocess(unsetIfEmpty, z.string().optional()),
    /** Attempts after the first for a delivery a provider answered 429/5xx (or did not answer). */
    BASTIDE_PUSH_RETRIES: int(0, 20, 5),
    /** The first retry's delay (a provider's Retry-After wins when longer); each next one doubles it. */
    BASTIDE_PUSH_RETRY_DELAY_SECONDS: int(1, 3600, 10),
    /** Deliveries per send job. */
    BASTIDE_PUSH_BATCH_SIZE: int(1, 5000, 500),
    /** Requests in flight per provider per node. */
    BASTIDE_PUSH_CONCURRENCY: int(1, 1000, 100),
    /** Messages (and their deliveries) older than this are removed. */
    BASTIDE_PUSH_RETENTION_DAYS: int(1, 3650, 30),
  }),
  migrations,
  async start({ db, secret, settings, log, use, rateLimiter, actions, runsJobs }) {
    const jobs = use('jobs')
    const collections = use('collections')
    const ca = settings.BASTIDE_PUSH_CA_FILE ? readFileSync(settings.BASTIDE_PUSH_CA_FILE, 'utf8') : undefined
    const credentials = createPushCredentials({ db, secret, actions })
    const services = {
      credentials,
      devices: createPushDevices({ db }),
      topics: createPushTopics({ db, collections, actions }),
      preferences: createPushPreferences({ db }),
    }
    const messages = createPushMessages({ db, jobs, collections })
    const workers = await startPushWorkers({
      db,
      jobs,
      collections,
      credentials,
      log,
      runsJobs,
      retries: settings.BASTIDE_PUSH_RETRIES,
      retryDelaySeconds: settings.BASTIDE_PUSH_RETRY_DELAY_SECONDS,
      batchSize: settings.BASTIDE_PUSH_BATCH_SIZE,
      senders: {
        concurrency: settings.BASTIDE_PUSH_CONCURRENCY,
        ca,
        apnsOrigin: settings.BASTIDE_PUSH_APNS_ORIGIN,
        fcmOrigin: settings.BASTIDE_PUSH_FCM_ORIGIN,
        allowHosts: settings.BASTIDE_PUSH_ALLOW_HOSTS,
      },
    })
    return {
      provides: { push: messages },
      routes: [
        { path: '/api/push/messages', app: pushMessageRoutes({ messages }) },
        { path: '/api/push', app: pushPublicRoutes({ ...services, rateLimiter, log }) },
        { path: '/api/admin/push', app: pushAdminRoutes(services) },
      ],
      openapi: pushOpenApi,
      jobs: [
        {
          name: 'prune-messages',
          everyMs: 60 * 60_000,
          firstAfterMs: 60_000,
          run: async () => {
            const days = settings.BASTIDE_PUSH_RETENTION_DAYS
            const removed = await messages.prune(new Date(Date.now() - days * 86_400_000))
            if (removed > 0) log.info({ removed }, 'push: old messages removed')
          },
        },
      ],
      async close() {
        await workers.close()
      },
    }
  },
})
