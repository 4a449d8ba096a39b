import { PUSH_CREDENTIAL_PROVIDERS, type PushConfig, type PushProviderName } from '@bastide/protocol'
import { Hono } from 'hono'
import type { Logger } from 'pino'
import { z } from 'zod'
import { hasScope, principalId } from '../../core/auth/principal.ts'
import type { PushCredentials } from '../../core/push/credentials.ts'
import { deviceId, type PushDevices, pushDeviceInput } from '../../core/push/devices.ts'
import { type PushPreferencesService, parsePreferences } from '../../core/push/preferences.ts'
import { type PushTopics, pushTopicInput, pushTopicPatch } from '../../core/push/topics.ts'
import type { RateLimiter } from '../../core/rate-limit/index.ts'
import { AppError, errors, parseInput } from '../../errors/index.ts'
import type { AppEnv } from '../../http/context.ts'
import { jsonBody } from '../../http/middleware/json-body.ts'
import { addressGroup } from '../../http/middleware/rate-limit.ts'

/** Device registrations per client address (IPv6: per /64) per minute: an app registers at start, not in a loop. */
export const REGISTRATIONS_PER_MINUTE = 60

export interface PushRouteDeps {
  readonly credentials: PushCredentials
  readonly devices: PushDevices
  readonly topics: PushTopics
  readonly preferences: PushPreferencesService
}

/** GET /api/push/topics' query. */
export const topicsQuery = z.object({
  device: deviceId.optional().describe('An installation id: `subscribed` lists its topics.'),
})

/** POST /api/push/topics/:name/subscriptions. */
export const subscriptionInput = z.object({ device: deviceId }).strict()

/** DELETE /api/push/topics/:name/subscriptions' query. */
export const unsubscribeQuery = z.object({ device: deviceId })

/** POST|DELETE /api/admin/push/topics/:name/subscriptions. */
export const adminSubscriptionInput = z
  .object({ devices: z.array(z.string().min(1).max(128)).min(1).max(1000) })
  .strict()

/** GET /api/admin/push/devices' query. */
export const adminDevicesQuery = z.object({
  user: z.uuid().optional().describe('Only this user’s devices.'),
  cursor: deviceId.optional().describe('The `nextCursor` of the previous page.'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
})

const provider = z.enum(PUSH_CREDENTIAL_PROVIDERS)

/** The signed-in user, or 401. */
function userOf(c: { var: AppEnv['Variables'] }): string {
  const p = c.var.principal
  if (p.kind !== 'user') throw errors.unauthorized('Sign in to manage your devices and preferences.')
  return p.id
}

/**
 * /api/push for apps: the config they register with, device registration (the installation id is the proof of
 * holding a device), topic subscriptions under each topic's rule, and the signed-in user's devices and preferences.
 */
export function pushPublicRoutes(
  deps: PushRouteDeps & { readonly rateLimiter: RateLimiter; readonly log: Logger },
) {
  const { credentials, devices, topics, preferences, rateLimiter, log } = deps
  const r = new Hono<AppEnv>()
  let lastWarned = 0

  r.get('/config', async (c) => {
    const creds = await credentials.load()
    const providers: PushProviderName[] = []
    if (creds.apns) providers.push('apns')
    if (creds.fcm) providers.push('fcm')
    if (creds.webpush) providers.push('webpush')
    providers.push('unifiedpush')
    const body: PushConfig = { providers, vapidPublicKey: creds.webpush?.publicKey ?? null }
    return c.json(body)
  })

  r.post('/devices', async (c) => {
    const ip = c.var.clientIp()
    try {
      const hit = await rateLimiter.hit(
        `push-devices:${ip === undefined ? 'local' : addressGroup(ip)}`,
        REGISTRATIONS_PER_MINUTE,
        60,
      )
      if (!hit.allowed)
        throw new AppError('RATE_LIMITED', `Too many requests; retry in ${hit.retryAfterSeconds} seconds.`, {
          retryAfter: hit.retryAfterSeconds,
        })
    } catch (err) {
      if (err instanceof AppError) throw err
      // Fail open, as auth does: an unreachable counter store must not stop apps from registering.
      if (Date.now() - lastWarned > 30_000) {
        lastWarned = Date.now()
        log.warn(
          { err: (err as Error).message },
          'rate limit store unreachable: push registrations not limited',
        )
      }
    }
    const input = parseInput(pushDeviceInput, await jsonBody(c))
    const p = c.var.principal
    const { device, created } = await devices.register(input, p.kind === 'user' ? p.id : null)
    return c.json(device, created ? 201 : 200)
  })

  r.get('/devices', async (c) => c.json({ items: await devices.ofUser(userOf(c)) }))

  r.delete('/devices/:id', async (c) => {
    const id = c.req.param('id')
    if (deviceId.safeParse(id).success) await devices.remove(id)
    return c.body(null, 204)
  })

  r.get('/topics', async (c) => {
    const q = parseInput(topicsQuery, c.req.query())
    return c.json(await topics.listPublic(q.device))
  })
  r.post('/topics/:name/subscriptions', async (c) => {
    const { device } = parseInput(subscriptionInput, await jsonBody(c))
    await topics.subscribe(c.req.param('name'), device, c.var.principal)
    return c.body(null, 204)
  })
  r.delete('/topics/:name/subscriptions', async (c) => {
    const { device } = parseInput(unsubscribeQuery, c.req.query())
    await topics.unsubscribe(c.req.param('name'), device)
    return c.body(null, 204)
  })

  r.get('/preferences', async (c) => c.json(await preferences.get(userOf(c))))
  r.put('/preferences', async (c) => {
    const userId = userOf(c)
    const input = parsePreferences(await jsonBody(c))
    return c.json(await preferences.put(userId, input))
  })
  return r
}

/**
 * /api/admin/push, for console admins, BASTIDE_ADMIN_KEY and API keys with the `push` scope: provider credentials
 * (write-only secrets; changing them is for console admins and BASTIDE_ADMIN_KEY only), every device, topics and
 * their subscribers.
 */
export function pushAdminRoutes(deps: PushRouteDeps) {
  const { credentials, devices, topics } = deps
  const r = new Hono<AppEnv>()
  r.use(async (c, next) => {
    const p = c.var.principal
    if (p.kind === 'anonymous') throw errors.unauthorized()
    if (!hasScope(p, 'push')) throw errors.forbidden('This needs a console admin or the push scope.')
    await next()
  })
  const providerOf = (name: string) => {
    const r = provider.safeParse(name)
    if (!r.success) throw errors.notFound('Push provider')
    return r.data
  }

  /** Writing credentials is the operator's: new VAPID keys break every browser subscription, a token_uri is a URL the server calls. */
  const operatorOnly = (c: { var: AppEnv['Variables'] }) => {
    if (c.var.principal.kind !== 'admin')
      throw errors.forbidden('Changing push credentials needs a console admin or BASTIDE_ADMIN_KEY.')
  }

  r.get('/credentials', async (c) => c.json(await credentials.status()))
  r.put('/credentials/:provider', async (c) => {
    operatorOnly(c)
    const which = providerOf(c.req.param('provider'))
    return c.json(await credentials.set(which, await jsonBody(c), principalId(c.var.principal)))
  })
  r.delete('/credentials/:provider', async (c) => {
    operatorOnly(c)
    const which = providerOf(c.req.param('provider'))
    return c.json(await credentials.remove(which, principalId(c.var.principal)))
  })

  r.get('/devices', async (c) => c.json(await devices.list(parseInput(adminDevicesQuery, c.req.query()))))
  r.get('/devices/:id', async (c) => {
    const d = await devices.find(c.req.param('id'))
    if (!d) throw errors.notFound('Device')
    return c.json(d)
  })
  r.delete('/devices/:id', async (c) => {
    if (!(await devices.remove(c.req.param('id')))) throw errors.notFound('Device')
    return c.body(null, 204)
  })

  r.get('/topics', async (c) => c.json({ items: await topics.list() }))
  r.post('/topics', async (c) => {
    const input = parseInput(pushTopicInput, await jsonBody(c))
    return c.json(await topics.create(input, principalId(c.var.principal)), 201)
  })
  r.patch('/topics/:name', async (c) => {
    const patch = parseInput(pushTopicPatch, await jsonBody(c))
    return c.json(await topics.update(c.req.param('name'), patch, principalId(c.var.principal)))
  })
  r.delete('/topics/:name', async (c) => {
    await topics.remove(c.req.param('name'), principalId(c.var.principal))
    return c.body(null, 204)
  })
  r.post('/topics/:name/subscriptions', async (c) => {
    const { devices: ids } = parseInput(adminSubscriptionInput, await jsonBody(c))
    return c.json({ changed: await topics.subscribeDevices(c.req.param('name'), ids) })
  })
  r.delete('/topics/:name/subscriptions', async (c) => {
    const { devices: ids } = parseInput(adminSubscriptionInput, await jsonBody(c))
    return c.json({ changed: await topics.unsubscribeDevices(c.req.param('name'), ids) })
  })
  return r
}
