import type { PushContent, PushMessageInput } from '@bastide/protocol'
import { z } from 'zod'
import { errors, parseInput } from '../../errors/index.ts'
import { notificationFor } from './localize.ts'
import { apnsPayload } from './providers/apns-sender.ts'
import { fcmMessage } from './providers/fcm-sender.ts'
import type { OutgoingPush } from './providers/types.ts'
import { webPushPayload } from './providers/web-push-sender.ts'

/** Ids per `to.users` / `to.devices`: larger audiences are a filter or a topic. */
export const MAX_TARGET_IDS = 1000
/**
 * What one device's payload may weigh, per provider, as that provider's sender builds it: APNs counts the whole
 * JSON body (the `aps` wrapper included); FCM its notification and data; Web Push (and UnifiedPush, which may
 * encrypt the same way) the plaintext of one RFC 8291 aes128gcm record, 4096 - 86 - 16 - 1 bytes.
 */
export const PAYLOAD_LIMITS = { apns: 4096, fcm: 4096, webpush: 3993 } as const
const PROVIDER_NAMES = { apns: 'APNs', fcm: 'FCM', webpush: 'Web Push / UnifiedPush' } as const
/** A uuid of the length of the real ones (message and delivery ids travel in the Web Push payload). */
const PLACEHOLDER_ID = '00000000-0000-7000-8000-000000000000'
/** 28 days: the longest any provider keeps a message for an offline device. */
export const MAX_TTL_SECONDS = 2_419_200
export const DEFAULT_TTL_SECONDS = 86_400
/** How far ahead a message may be scheduled. */
export const MAX_SCHEDULE_MS = 30 * 86_400_000

const TOPIC = /^[a-z0-9_.-]{1,64}$/
const DEVICE_ID = /^[A-Za-z0-9_-]{16,128}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const LOCALE = /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/

const topicName = z.string().regex(TOPIC, 'must be 1-64 characters of a-z 0-9 _ . -')
const text = (max: number) => z.string().max(max)
const variant = z.strictObject({
  title: text(1000).optional(),
  body: text(4000).optional(),
  subtitle: text(1000).optional(),
})

const target = z
  .strictObject({
    users: z.array(z.string().regex(UUID, 'must be a user id')).min(1).max(MAX_TARGET_IDS).optional(),
    filter: z.string().trim().min(1).max(4000).optional(),
    topic: topicName.optional(),
    devices: z
      .array(z.string().regex(DEVICE_ID, 'must be a device id'))
      .min(1)
      .max(MAX_TARGET_IDS)
      .optional(),
    all: z.literal(true).optional(),
  })
  .refine((t) => Object.values(t).filter((v) => v !== undefined).length === 1, {
    message: 'needs exactly one of users, filter, topic, devices, all',
  })

/** `PushMessageInput`, as POST /api/push/messages and ctx.push.send take it (also its OpenAPI schema). */
export const pushMessageInput = z
  .strictObject({
    to: target,
    topic: topicName.optional(),
    title: text(1000).optional(),
    body: text(4000).optional(),
    subtitle: text(1000).optional(),
    localized: z
      .record(z.string().regex(LOCALE, 'must be a BCP 47 tag'), variant)
      .refine((m) => Object.keys(m).length <= 100, 'at most 100 locales')
      .optional(),
    data: z.record(z.string().min(1).max(200), z.string()).optional(),
    badge: z.number().int().min(0).max(1_000_000).optional(),
    sound: text(200).optional(),
    image: z
      .string()
      .max(2048)
      .refine((v) => v.startsWith('https://') && URL.canParse(v), 'must be an https URL')
      .optional(),
    category: text(200).optional(),
    threadId: text(200).optional(),
    ttlSeconds: z.number().int().min(0).max(MAX_TTL_SECONDS).optional(),
    collapseKey: z.string().min(1).max(200).optional(),
    priority: z.enum(['high', 'normal']).optional(),
    silent: z.boolean().optional(),
    sendAt: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((m) => m.to.topic === undefined || m.topic === undefined || m.topic === m.to.topic, {
    path: ['topic'],
    message: 'must be to.topic when both are given',
  })

/** A message as stored: its parts split the way the table keeps them. */
export interface ValidMessage {
  readonly to: PushMessageInput['to']
  /** For preferences: `topic`, or `to.topic`. */
  readonly topic: string | null
  readonly content: PushContent
  readonly options: {
    readonly ttlSeconds: number
    readonly collapseKey: string | null
    readonly priority: 'high' | 'normal'
    readonly silent: boolean
  }
  /** Null: now (a past or present sendAt is now). */
  readonly sendAt: Date | null
}

/**
 * Checks a message's shape (VALIDATION_FAILED naming the field) and the rules zod cannot say alone: something to
 * show unless silent, the heaviest variant within every provider's PAYLOAD_LIMITS, sendAt within 30 days. The filter
 * and the topic's existence are checked by the caller (they need the schema and the database).
 */
export function validateMessage(input: unknown, now = Date.now()): ValidMessage {
  const m = parseInput(pushMessageInput, input)
  const silent = m.silent ?? false
  const hasData = m.data !== undefined && Object.keys(m.data).length > 0
  if (!silent && !m.title && !m.body && !hasData)
    throw errors.validation({
      body: {
        code: 'missing_content',
        message: 'A message needs a title, a body or data (or silent: true).',
      },
    })
  if (silent && !hasData && m.badge === undefined)
    throw errors.validation({
      data: { code: 'missing_content', message: 'A silent message needs data (or a badge).' },
    })
  const { to, topic, ttlSeconds, collapseKey, priority, sendAt, silent: _s, ...content } = m
  const options = {
    ttlSeconds: ttlSeconds ?? DEFAULT_TTL_SECONDS,
    collapseKey: collapseKey ?? null,
    priority: priority ?? (silent ? 'normal' : 'high'),
    silent,
  } as const
  checkPayloadSizes(content, options, now)
  let at: Date | null = null
  if (sendAt !== undefined) {
    const t = Date.parse(sendAt)
    if (t > now + MAX_SCHEDULE_MS)
      throw errors.validation({
        sendAt: { code: 'too_far', message: 'A message may be scheduled at most 30 days ahead.' },
      })
    if (t > now) at = new Date(t)
  }
  return {
    to,
    topic: to.topic ?? topic ?? null,
    content,
    options,
    sendAt: at,
  }
}

/**
 * Refuses (400, naming the provider and its limit) a message whose payload, for its heaviest variant (the default
 * texts and each locale's), would exceed a provider's limit: each payload is built by that provider's sender, with
 * ids of the real length, so what is accepted here is what the provider accepts.
 */
function checkPayloadSizes(content: PushContent, options: ValidMessage['options'], now: number): void {
  const variants = [undefined, ...Object.keys(content.localized ?? {})]
  for (const provider of ['webpush', 'apns', 'fcm'] as const) {
    let size = 0
    let heaviest: string | undefined
    for (const locale of variants) {
      const bytes = payloadBytes(provider, sample(content, options, locale), now)
      if (bytes > size) {
        size = bytes
        heaviest = locale
      }
    }
    const limit = PAYLOAD_LIMITS[provider]
    if (size > limit)
      throw errors.badRequest(
        `The notification${heaviest ? ` (${heaviest})` : ''} weighs ${size} bytes for ${PROVIDER_NAMES[provider]}, whose limit is ${limit} bytes.`,
        { provider, limit, size, ...(heaviest ? { locale: heaviest } : {}) },
      )
  }
}

/** The notification one device of `locale` would get, as the send job builds it (placeholder ids and device). */
function sample(
  content: PushContent,
  options: ValidMessage['options'],
  locale: string | undefined,
): OutgoingPush {
  return notificationFor(
    { deliveryId: PLACEHOLDER_ID, messageId: PLACEHOLDER_ID },
    { id: 'size-check', provider: 'webpush', token: '', keys: null, appId: '', environment: null },
    content,
    options,
    locale,
  )
}

/** The bytes a provider's limit counts. */
function payloadBytes(provider: keyof typeof PAYLOAD_LIMITS, item: OutgoingPush, now: number): number {
  switch (provider) {
    case 'apns':
      return Buffer.byteLength(JSON.stringify(apnsPayload(item)), 'utf8')
    case 'fcm': {
      const { notification, data } = fcmMessage(item, now)
      return Buffer.byteLength(JSON.stringify({ notification, data }), 'utf8')
    }
    case 'webpush':
      return Buffer.byteLength(JSON.stringify(webPushPayload(item)), 'utf8')
  }
}
