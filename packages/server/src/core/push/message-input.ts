import type { PushContent, PushMessageInput } from '@bastide/protocol'
import { z } from 'zod'
import { errors, parseInput } from '../../errors/index.ts'

/** Ids per `to.users` / `to.devices`: larger audiences are a filter or a topic. */
export const MAX_TARGET_IDS = 1000
/** What one device's notification may weigh as JSON (APNs' limit; FCM and Web Push allow about as much). */
export const MAX_NOTIFICATION_BYTES = 4096
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
 * show unless silent, the heaviest variant within MAX_NOTIFICATION_BYTES, sendAt within 30 days. The filter
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
  const heaviest = Math.max(
    ...[undefined, ...Object.keys(content.localized ?? {})].map((l) => notificationBytes(content, l)),
  )
  if (heaviest > MAX_NOTIFICATION_BYTES)
    throw errors.badRequest(
      `The notification weighs ${heaviest} bytes as JSON; at most ${MAX_NOTIFICATION_BYTES} are sent.`,
      { limit: MAX_NOTIFICATION_BYTES, size: heaviest },
    )
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
    options: {
      ttlSeconds: ttlSeconds ?? DEFAULT_TTL_SECONDS,
      collapseKey: collapseKey ?? null,
      priority: priority ?? (silent ? 'normal' : 'high'),
      silent,
    },
    sendAt: at,
  }
}

/** The JSON size of what one device would get: the content with `locale`'s variant in place of the default texts. */
function notificationBytes(content: PushContent, locale: string | undefined): number {
  const { localized, ...rest } = content
  const v = locale ? localized?.[locale] : undefined
  return Buffer.byteLength(JSON.stringify({ ...rest, ...v }), 'utf8')
}
