import type { PushContent } from '@bastide/protocol'

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
