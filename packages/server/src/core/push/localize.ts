import type { PushContent } from '@bastide/protocol'
import type { OutgoingDevice, OutgoingPush } from './providers/types.ts'

/** The texts one device shows. */
export interface LocalizedTexts {
  readonly title?: string
  readonly body?: string
  readonly subtitle?: string
}

/**
 * The texts for a device's locale: the variant of its exact tag (`pt-BR`), else of its language (`pt`), else the
 * default ones. Tags compare case-insensitively (`pt-br` is `pt-BR`); a variant's missing text falls back to
 * the default's, so a variant may translate the title only.
 */
export function localize(content: PushContent, locale: string | null | undefined): LocalizedTexts {
  const base: LocalizedTexts = {
    ...(content.title !== undefined ? { title: content.title } : {}),
    ...(content.body !== undefined ? { body: content.body } : {}),
    ...(content.subtitle !== undefined ? { subtitle: content.subtitle } : {}),
  }
  const variants = content.localized
  if (!locale || !variants) return base
  const byTag = new Map(Object.entries(variants).map(([k, v]) => [k.toLowerCase(), v]))
  const tag = locale.toLowerCase().replace(/_/g, '-')
  const v = byTag.get(tag) ?? byTag.get(tag.split('-')[0]!)
  if (!v) return base
  return {
    ...base,
    ...(v.title !== undefined ? { title: v.title } : {}),
    ...(v.body !== undefined ? { body: v.body } : {}),
    ...(v.subtitle !== undefined ? { subtitle: v.subtitle } : {}),
  }
}

/** A message's delivery options, as stored with it. */
export interface DeliveryOptions {
  readonly ttlSeconds: number
  readonly collapseKey: string | null
  readonly priority: 'high' | 'normal'
  readonly silent: boolean
}

/**
 * The notification one device gets: the message's content in the device's locale, with the delivery options (the
 * send job builds it per device; the size check at send time, per locale, with placeholder ids).
 */
export function notificationFor(
  ids: { readonly deliveryId: string; readonly messageId: string },
  device: OutgoingDevice,
  content: PushContent,
  options: DeliveryOptions,
  locale: string | null | undefined,
): OutgoingPush {
  return {
    ...ids,
    device,
    ...localize(content, locale),
    ...(content.data !== undefined ? { data: content.data } : {}),
    ...(content.badge !== undefined ? { badge: content.badge } : {}),
    ...(content.sound !== undefined ? { sound: content.sound } : {}),
    ...(content.image !== undefined ? { image: content.image } : {}),
    ...(content.category !== undefined ? { category: content.category } : {}),
    ...(content.threadId !== undefined ? { threadId: content.threadId } : {}),
    ttlSeconds: options.ttlSeconds,
    ...(options.collapseKey !== null ? { collapseKey: options.collapseKey } : {}),
    priority: options.priority,
    silent: options.silent,
  }
}
