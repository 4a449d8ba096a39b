import type {
  PushCounts,
  PushMessage,
  PushMessageInput,
  PushTarget,
  WebPushCredentialsInput,
} from '@bastide/protocol'
import { BastideError } from '@bastide/sdk'

/** Ids typed in a box: separated by commas, spaces or lines; blanks and repeats dropped, order kept. */
export function splitIds(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).filter((s) => s !== ''))]
}

export type TargetKind = 'users' | 'devices' | 'topic' | 'filter' | 'all'

/** The test-send form as typed. */
export interface SendDraft {
  readonly target: TargetKind
  readonly users: string
  readonly devices: string
  readonly topic: string
  readonly filter: string
  readonly title: string
  readonly body: string
  readonly data: readonly { readonly key: string; readonly value: string }[]
  readonly silent: boolean
  /** `<input type="datetime-local">`'s value (the browser's local time), or empty for now. */
  readonly sendAt: string
  /** The preferences topic of a message not sent to a topic (users who opted out of it are skipped). */
  readonly preferenceTopic: string
}

export const EMPTY_SEND: SendDraft = {
  target: 'users',
  users: '',
  devices: '',
  topic: '',
  filter: '',
  title: '',
  body: '',
  data: [],
  silent: false,
  sendAt: '',
  preferenceTopic: '',
}

/** A `datetime-local` value (local time, no zone) as an ISO instant; null when it is not a time. */
export function localToIso(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return null
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? null : d.toISOString()
}

/**
 * The message the form describes, or the problems found before asking the server (keyed like the server's
 * 400 `details.fields`, so that both land at the same field). The server validates again: this only catches
 * what a console user would otherwise wait a round trip for.
 */
export function buildMessage(
  d: SendDraft,
  now: Date = new Date(),
):
  | { input: PushMessageInput; problems?: undefined }
  | { input?: undefined; problems: Record<string, string> } {
  const problems: Record<string, string> = {}
  let to: PushTarget = { all: true }
  if (d.target === 'users') {
    const users = splitIds(d.users)
    if (users.length === 0) problems['to.users'] = 'Enter at least one user id.'
    to = { users }
  } else if (d.target === 'devices') {
    const devices = splitIds(d.devices)
    if (devices.length === 0) problems['to.devices'] = 'Enter at least one device id.'
    to = { devices }
  } else if (d.target === 'topic') {
    if (d.topic.trim() === '') problems['to.topic'] = 'Choose a topic.'
    to = { topic: d.topic.trim() }
  } else if (d.target === 'filter') {
    if (d.filter.trim() === '') problems['to.filter'] = 'Enter a filter over users.'
    to = { filter: d.filter.trim() }
  }
  const data: Record<string, string> = {}
  for (const { key, value } of d.data) {
    const k = key.trim()
    if (k === '' && value === '') continue
    if (k === '') problems.data = 'Every data value needs a key.'
    else if (k in data) problems.data = `The data key “${k}” is used twice.`
    else data[k] = value
  }
  if (!d.silent && d.title.trim() === '' && d.body.trim() === '')
    problems.body = 'A visible notification needs a title or a body (or send it silent).'
  let sendAt: string | undefined
  if (d.sendAt !== '') {
    const iso = localToIso(d.sendAt)
    if (iso === null) problems.sendAt = 'Not a date and time.'
    else if (new Date(iso).getTime() <= now.getTime())
      problems.sendAt = 'Choose a time in the future, or none to send now.'
    else sendAt = iso
  }
  if (Object.keys(problems).length > 0) return { problems }
  const input: PushMessageInput = {
    to,
    ...(d.title.trim() ? { title: d.title.trim() } : {}),
    ...(d.body.trim() ? { body: d.body.trim() } : {}),
    ...(Object.keys(data).length > 0 ? { data } : {}),
    ...(d.silent ? { silent: true } : {}),
    ...(sendAt ? { sendAt } : {}),
    ...(d.target !== 'topic' && d.preferenceTopic.trim() ? { topic: d.preferenceTopic.trim() } : {}),
  }
  return { input }
}

/**
 * The server's per-field problems of a 400 (`details.fields`: `{path: {code, message}}` or strings), by path.
 * Empty for any other error.
 */
export function serverFieldErrors(error: unknown): Record<string, string> {
  if (!(error instanceof BastideError)) return {}
  const fields = (error.details as { fields?: unknown } | undefined)?.fields
  if (!fields || typeof fields !== 'object') return {}
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(fields as Record<string, unknown>)) {
    if (typeof v === 'string') out[k] = v
    else if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string')
      out[k] = (v as { message: string }).message
    else out[k] = JSON.stringify(v)
  }
  return out
}

/** The problem for a field: its own path, or the first under it (`to.users.3` for `to.users`). */
export function errorAt(errors: Readonly<Record<string, string>>, field: string): string | undefined {
  if (errors[field] !== undefined) return errors[field]
  const under = Object.keys(errors).find((k) => k.startsWith(`${field}.`) || k.startsWith(`${field}[`))
  return under === undefined ? undefined : errors[under]
}

/** The problems no field of the form shows (to list them with the form's error instead of dropping them). */
export function unplacedErrors(
  errors: Readonly<Record<string, string>>,
  fields: readonly string[],
): [string, string][] {
  return Object.entries(errors).filter(
    ([k]) => !fields.some((f) => k === f || k.startsWith(`${f}.`) || k.startsWith(`${f}[`)),
  )
}

/**
 * Whether a message still moves on its own (the log and its page refresh while one does): queued or sending,
 * deliveries pending, or scheduled for the coming minute.
 */
export function isInFlight(
  m: Pick<PushMessage, 'status' | 'counts' | 'sendAt'>,
  now: Date = new Date(),
): boolean {
  if (m.status === 'queued' || m.status === 'sending') return true
  if (m.status === 'scheduled')
    return m.sendAt !== null && new Date(m.sendAt).getTime() - now.getTime() < 60_000
  return m.status !== 'canceled' && m.counts.pending > 0
}

export interface CountBadge {
  readonly key: 'sent' | 'failed' | 'invalidToken' | 'pending' | 'optedOut'
  readonly label: string
  readonly n: number
  readonly className: string
}

const COUNTS: readonly Omit<CountBadge, 'n'>[] = [
  { key: 'sent', label: 'sent', className: 'badge ok' },
  { key: 'failed', label: 'failed', className: 'badge danger' },
  { key: 'invalidToken', label: 'invalid', className: 'badge danger' },
  { key: 'pending', label: 'pending', className: 'badge' },
  { key: 'optedOut', label: 'opted out', className: 'badge' },
]

/** A message's counts worth showing (the non-zero ones), in a fixed order. */
export function countBadges(c: PushCounts): CountBadge[] {
  return COUNTS.map((b) => ({ ...b, n: c[b.key] })).filter((b) => b.n > 0)
}

/** Who a message went to, in a few words. */
export function describeTarget(to: PushTarget): string {
  const some = (what: string, ids: readonly string[]) =>
    `${ids.length} ${what}${ids.length === 1 ? '' : 's'}: ${ids.slice(0, 3).join(', ')}${ids.length > 3 ? '…' : ''}`
  if (to.all) return 'every device'
  if (to.topic !== undefined) return `topic ${to.topic}`
  if (to.users) return some('user', to.users)
  if (to.devices) return some('device', to.devices)
  if (to.filter !== undefined) return `users where ${to.filter}`
  return 'nobody'
}

export type RuleMode = 'nobody' | 'anyone' | 'rule'

/** A topic's subscribe rule as the form's choice: null = nobody, "" = anyone, else a rule. */
export function ruleMode(rule: string | null | undefined): RuleMode {
  return rule === null || rule === undefined ? 'nobody' : rule === '' ? 'anyone' : 'rule'
}

/** The subscribe rule the form's choice stands for. */
export function ruleOf(mode: RuleMode, text: string): string | null {
  return mode === 'nobody' ? null : mode === 'anyone' ? '' : text.trim()
}

/**
 * The Web Push card's body: `generate` asks the server for a new pair (regenerate); no keys pasted sends the subject
 * alone, which keeps the stored pair (the server generates one only when none is stored).
 */
export function webPushInput(d: {
  subject: string
  generate: boolean
  publicKey: string
  privateKey: string
}): WebPushCredentialsInput {
  const subject = d.subject.trim()
  if (d.generate) return { subject, regenerate: true }
  const publicKey = d.publicKey.trim()
  const privateKey = d.privateKey.trim()
  return publicKey === '' && privateKey === '' ? { subject } : { subject, publicKey, privateKey }
}
