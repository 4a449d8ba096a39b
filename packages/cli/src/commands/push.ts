import fs from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  PUSH_DELIVERY_STATUSES,
  PUSH_MESSAGE_STATUSES,
  type PushCounts,
  type PushCredentialsStatus,
  type PushDeliveryStatus,
  type PushMessage,
  type PushMessageInput,
  type PushMessageStatus,
  type PushTarget,
} from '@bastide/protocol'
import type { Command } from 'commander'
import type { CliContext } from '../context.ts'
import { CliError, EXIT } from '../lib/exit-codes.ts'
import type { RegisterCommand } from './index.ts'

const usage = (message: string) => new CliError(message, EXIT.usage, 'USAGE')

interface SendOptions {
  readonly user?: string[]
  readonly device?: string[]
  readonly topic?: string
  readonly filter?: string
  readonly all?: boolean
  readonly title?: string
  readonly body?: string
  readonly subtitle?: string
  readonly data?: string[]
  readonly image?: string
  readonly sound?: string
  readonly badge?: string
  readonly collapseKey?: string
  readonly ttl?: string
  readonly silent?: boolean
  readonly at?: string
  readonly topicPref?: string
  readonly wait?: boolean
  readonly timeout: string
}

/**
 * `bastide push send|messages|message|cancel|devices|credentials|topics`: push notifications through the API (the
 * key needs the `push` scope, or is the admin key): send and follow messages, see devices, set the APNs, FCM and
 * Web Push credentials, manage topics.
 */
export const pushCommand: RegisterCommand = (program, ctx) => {
  const push = program
    .command('push')
    .description(
      'Push notifications: send, messages and deliveries, devices, credentials, topics (needs the push scope)',
    )

  push
    .command('send')
    .description('Send a notification (or schedule it with --at); prints its id and status')
    .option('--user <ids...>', 'every device of these users (ids of users records)')
    .option('--device <ids...>', 'these devices (installation ids)')
    .option('--topic <name>', 'the devices subscribed to this topic')
    .option('--filter <expr>', 'every device of the users this filter over users matches (`verified = true`)')
    .option('--all', 'every registered device')
    .option('--title <text>', 'the title')
    .option('--body <text>', 'the text')
    .option('--subtitle <text>', 'the APNs subtitle')
    .option('--data <key=value...>', 'custom data for the app (strings)')
    .option('--image <url>', 'an https image URL')
    .option('--sound <name>', 'a sound name (`default`)')
    .option('--badge <n>', 'the app badge number')
    .option('--collapse-key <key>', 'a newer message with this key replaces an undelivered one')
    .option('--ttl <seconds>', 'how long providers keep it for an offline device (default 86400)')
    .option('--silent', 'data only: nothing shown, the app is woken')
    .option('--at <iso>', 'send at this time (ISO 8601) instead of now')
    .option('--topic-pref <name>', "the message's topic for users' preferences (opted-out users are skipped)")
    .option('--wait', 'wait until every delivery is done, then print the counts')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '300')
    .action(async (opts: SendOptions) => {
      const input = messageInput(opts)
      const timeoutS = Number(opts.timeout)
      if (!Number.isFinite(timeoutS) || timeoutS <= 0)
        throw usage('--timeout must be a positive number of seconds.')
      const { client } = ctx.connect()
      let m = await ctx.call(() => client.admin.push.send(input))
      if (opts.wait) {
        if (m.status === 'scheduled') ctx.out.note(`Scheduled for ${m.sendAt}: waiting until then.`)
        m = await waitDone(ctx, m, timeoutS * 1000)
      }
      ctx.out.result(m, () => [
        `${m.id}  ${m.status}`,
        ...(opts.wait || m.status === 'done' ? [countsLine(m.counts)] : []),
      ])
    })

  push
    .command('messages')
    .description('Sent messages, newest first')
    .option('--status <status>', `only these: ${PUSH_MESSAGE_STATUSES.join(', ')}`)
    .option('--limit <n>', 'at most this many (1 to 200)', '50')
    .action(async (opts: { status?: string; limit: string }) => {
      if (opts.status && !(PUSH_MESSAGE_STATUSES as readonly string[]).includes(opts.status))
        throw usage(`--status must be one of ${PUSH_MESSAGE_STATUSES.join(', ')}.`)
      const limit = limitOf(opts.limit, 200)
      const { client } = ctx.connect()
      const page = await ctx.call(() =>
        client.admin.push.messages.list({
          limit,
          ...(opts.status ? { status: opts.status as PushMessageStatus } : {}),
        }),
      )
      ctx.out.result(page, () =>
        page.items.length === 0
          ? 'No messages.'
          : ctx.out.table(
              page.items.map((m) => ({
                id: m.id,
                status: m.status,
                to: targetOf(m.to),
                title: m.title ?? '',
                sent: `${m.counts.sent}/${m.counts.targeted}`,
                failed: m.counts.failed + m.counts.invalidToken,
                source: m.source,
                created: m.createdAt,
              })),
              ['id', 'status', 'to', 'title', 'sent', 'failed', 'source', 'created'],
            ),
      )
    })

  push
    .command('message')
    .description('One message: its content, counts and deliveries (one per device)')
    .argument('<id>', "the message's id")
    .option('--status <status>', `only deliveries with this status: ${PUSH_DELIVERY_STATUSES.join(', ')}`)
    .option('--limit <n>', 'deliveries shown at most (1 to 200)', '100')
    .action(async (id: string, opts: { status?: string; limit: string }) => {
      if (opts.status && !(PUSH_DELIVERY_STATUSES as readonly string[]).includes(opts.status))
        throw usage(`--status must be one of ${PUSH_DELIVERY_STATUSES.join(', ')}.`)
      const limit = limitOf(opts.limit, 200)
      const { client } = ctx.connect()
      const message = await ctx.call(() => client.admin.push.messages.get(id))
      const deliveries = await ctx.call(() =>
        client.admin.push.messages.deliveries(id, {
          limit,
          ...(opts.status ? { status: opts.status as PushDeliveryStatus } : {}),
        }),
      )
      ctx.out.result({ message, deliveries }, () => [
        ...messageLines(message),
        '',
        ...(deliveries.items.length === 0
          ? ['No deliveries.']
          : ctx.out.table(
              deliveries.items.map((d) => ({
                device: d.deviceId,
                provider: d.provider,
                user: d.userId ?? '',
                status: d.status,
                attempts: d.attempts,
                reason: d.reason ?? '',
                updated: d.updatedAt,
              })),
              ['device', 'provider', 'user', 'status', 'attempts', 'reason', 'updated'],
            )),
        ...(deliveries.nextCursor
          ? ['', 'More deliveries than shown: raise --limit (up to 200), or see them in the console.']
          : []),
      ])
    })

  push
    .command('cancel')
    .description('Cancel a scheduled message (refused once it is queued)')
    .argument('<id>', "the message's id")
    .action(async (id: string) => {
      const { client } = ctx.connect()
      const m = await ctx.call(() => client.admin.push.messages.cancel(id))
      ctx.out.result(m, `${m.id}  ${m.status}`)
    })

  push
    .command('devices')
    .description('Registered devices (the token is never shown, only its last characters)')
    .option('--user <id>', "only this user's devices")
    .option('--limit <n>', 'at most this many (1 to 500)', '100')
    .action(async (opts: { user?: string; limit: string }) => {
      const limit = limitOf(opts.limit, 500)
      const { client } = ctx.connect()
      const page = await ctx.call(() =>
        client.admin.push.devices.list({ limit, ...(opts.user ? { user: opts.user } : {}) }),
      )
      ctx.out.result(page, () =>
        page.items.length === 0
          ? 'No devices.'
          : ctx.out.table(
              page.items.map((d) => ({
                id: d.id,
                provider: d.provider,
                app: d.appId,
                user: d.userId ?? '',
                token: `…${d.tokenHint}`,
                locale: d.locale ?? '',
                topics: d.topics.join(','),
                lastSeen: d.lastSeenAt,
              })),
              ['id', 'provider', 'app', 'user', 'token', 'locale', 'topics', 'lastSeen'],
            ),
      )
    })

  credentialsCommands(push, ctx)
  topicsCommands(push, ctx)
}

function credentialsCommands(push: Command, ctx: CliContext): void {
  const credentials = push
    .command('credentials')
    .description('Which providers are configured (APNs, FCM, Web Push); set or remove their credentials')
    .action(async () => {
      const { client } = ctx.connect()
      const status = await ctx.call(() => client.admin.push.credentials.get())
      ctx.out.result(status, () => credentialLines(status))
    })

  const set = credentials.command('set').description("Set a provider's credentials (checked by the server)")

  set
    .command('apns')
    .description('APNs token authentication: a .p8 key of your Apple team')
    .requiredOption('--team-id <id>', 'the Apple team id')
    .requiredOption('--key-id <id>', "the key's id")
    .option('--key-file <path>', 'the AuthKey_XXXX.p8 file (omitted: keep the stored key)')
    .requiredOption('--bundle-id <id>', "the app's bundle id (the default apns-topic)")
    .action(async (opts: { teamId: string; keyId: string; keyFile?: string; bundleId: string }) => {
      const privateKey = opts.keyFile ? readFile(opts.keyFile, '--key-file') : undefined
      const { client } = ctx.connect()
      const status = await ctx.call(() =>
        client.admin.push.credentials.set('apns', {
          teamId: opts.teamId,
          keyId: opts.keyId,
          bundleId: opts.bundleId,
          ...(privateKey ? { privateKey } : {}),
        }),
      )
      ctx.out.result(status, () => ['APNs credentials set.', ...credentialLines(status)])
    })

  set
    .command('fcm')
    .description('Firebase Cloud Messaging: a service account JSON key (Firebase console, Service accounts)')
    .requiredOption('--service-account <path>', 'the JSON file')
    .action(async (opts: { serviceAccount: string }) => {
      const serviceAccount = readFile(opts.serviceAccount, '--service-account')
      const { client } = ctx.connect()
      const status = await ctx.call(() => client.admin.push.credentials.set('fcm', { serviceAccount }))
      ctx.out.result(status, () => ['FCM credentials set.', ...credentialLines(status)])
    })

  set
    .command('webpush')
    .description('Web Push VAPID keys: generated by the server (--generate), or your own pair')
    .requiredOption('--subject <uri>', 'a mailto: or https: contact for the push services')
    .option(
      '--generate',
      'let the server generate a new key pair (browsers subscribed with the old key must subscribe again)',
    )
    .option('--public-key <base64url>', 'your VAPID public key')
    .option('--private-key <base64url>', 'your VAPID private key')
    .action(
      async (opts: { subject: string; generate?: boolean; publicKey?: string; privateKey?: string }) => {
        const own = opts.publicKey !== undefined || opts.privateKey !== undefined
        // A new pair is made only when asked for (regenerate): every browser subscription made with the old
        // key stops working.
        if (opts.generate && own) throw usage('Pass --generate, or --public-key and --private-key, not both.')
        if (!opts.generate && !(opts.publicKey && opts.privateKey))
          throw usage('Pass --generate (a new key pair) or both --public-key and --private-key.')
        const { client } = ctx.connect()
        const status = await ctx.call(() =>
          client.admin.push.credentials.set('webpush', {
            subject: opts.subject,
            ...(own ? { publicKey: opts.publicKey, privateKey: opts.privateKey } : { regenerate: true }),
          }),
        )
        ctx.out.result(status, () => ['Web Push credentials set.', ...credentialLines(status)])
      },
    )

  credentials
    .command('remove')
    .description("Remove a provider's credentials: its deliveries fail until they are set again")
    .argument('<provider>', 'apns, fcm or webpush')
    .action(async (provider: string) => {
      if (provider !== 'apns' && provider !== 'fcm' && provider !== 'webpush')
        throw usage('The provider is apns, fcm or webpush.')
      const { client } = ctx.connect()
      const status = await ctx.call(() => client.admin.push.credentials.remove(provider))
      ctx.out.result(status, () => [`${provider} credentials removed.`, ...credentialLines(status)])
    })
}

function topicsCommands(push: Command, ctx: CliContext): void {
  const topics = push
    .command('topics')
    .description('Topics devices subscribe to, with who may subscribe and how many did')
    .action(async () => {
      const { client } = ctx.connect()
      const items = await ctx.call(() => client.admin.push.topics.list())
      ctx.out.result({ items }, () =>
        items.length === 0
          ? 'No topics.'
          : ctx.out.table(
              items.map((t) => ({
                name: t.name,
                subscribers: t.subscribers ?? '',
                rule: ruleOf(t.subscribeRule),
                description: t.description ?? '',
              })),
              ['name', 'subscribers', 'rule', 'description'],
            ),
      )
    })

  topics
    .command('create')
    .description('Create a topic')
    .argument('<name>', '1-64 characters of a-z 0-9 _ . -')
    .option(
      '--rule <rule>',
      'who may subscribe their own device: "" anyone, or a rule over the user (`verified = true`); omitted: only admins and functions',
    )
    .option('--description <text>', 'what it is about')
    .action(async (name: string, opts: { rule?: string; description?: string }) => {
      const { client } = ctx.connect()
      const topic = await ctx.call(() =>
        client.admin.push.topics.create({
          name,
          subscribeRule: opts.rule ?? null,
          ...(opts.description !== undefined ? { description: opts.description } : {}),
        }),
      )
      ctx.out.result(topic, `Created topic ${topic.name} (${ruleOf(topic.subscribeRule)}).`)
    })

  topics
    .command('delete')
    .description('Delete a topic and its subscriptions')
    .argument('<name>', "the topic's name")
    .action(async (name: string) => {
      const { client } = ctx.connect()
      await ctx.call(() => client.admin.push.topics.remove(name))
      ctx.out.result({ deleted: name }, `Deleted topic ${name}.`)
    })
}

/** The options of `push send` as a message, or a usage error. */
export function messageInput(o: SendOptions): PushMessageInput {
  const targets: PushTarget[] = [
    ...(o.user ? [{ users: o.user }] : []),
    ...(o.device ? [{ devices: o.device }] : []),
    ...(o.topic !== undefined ? [{ topic: o.topic }] : []),
    ...(o.filter !== undefined ? [{ filter: o.filter }] : []),
    ...(o.all ? [{ all: true as const }] : []),
  ]
  if (targets.length !== 1)
    throw usage('Say who gets it with exactly one of --user, --device, --topic, --filter or --all.')
  if (!o.silent && o.title === undefined && o.body === undefined && !o.data)
    throw usage('A notification needs --title, --body or --data (or --silent with --data).')
  const data: Record<string, string> = {}
  for (const kv of o.data ?? []) {
    const eq = kv.indexOf('=')
    if (eq <= 0) throw usage(`--data takes key=value pairs, not "${kv}".`)
    data[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  if (o.at !== undefined && Number.isNaN(Date.parse(o.at)))
    throw usage(`--at must be an ISO 8601 date and time (2026-12-24T18:00:00Z), not "${o.at}".`)
  const badge = o.badge === undefined ? undefined : wholeNumber(o.badge, '--badge')
  const ttl = o.ttl === undefined ? undefined : wholeNumber(o.ttl, '--ttl')
  return {
    to: targets[0]!,
    ...(o.title !== undefined ? { title: o.title } : {}),
    ...(o.body !== undefined ? { body: o.body } : {}),
    ...(o.subtitle !== undefined ? { subtitle: o.subtitle } : {}),
    ...(o.data ? { data } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
    ...(o.sound !== undefined ? { sound: o.sound } : {}),
    ...(badge !== undefined ? { badge } : {}),
    ...(o.collapseKey !== undefined ? { collapseKey: o.collapseKey } : {}),
    ...(ttl !== undefined ? { ttlSeconds: ttl } : {}),
    ...(o.silent ? { silent: true } : {}),
    ...(o.at !== undefined ? { sendAt: new Date(o.at).toISOString() } : {}),
    ...(o.topicPref !== undefined ? { topic: o.topicPref } : {}),
  }
}

/** Polls the message until no delivery is pending (done or canceled), or the timeout. */
async function waitDone(ctx: CliContext, first: PushMessage, timeoutMs: number): Promise<PushMessage> {
  const { client } = ctx.connect()
  const deadline = Date.now() + timeoutMs
  // A scheduled message waits until its time, then the usual polling.
  const sendAt = first.sendAt ? Date.parse(first.sendAt) : 0
  let m = first
  while (m.status !== 'done' && m.status !== 'canceled') {
    if (Date.now() >= deadline)
      throw new CliError(
        `Gave up waiting after ${Math.round(timeoutMs / 1000)} s: the message is ${m.status} (${countsLine(m.counts)}).`,
        EXIT.failed,
        'TIMEOUT',
        { id: m.id },
      )
    const pause = m.status === 'scheduled' && sendAt > Date.now() ? Math.min(sendAt - Date.now(), 5000) : 500
    await sleep(Math.max(100, Math.min(pause, deadline - Date.now())))
    m = await ctx.call(() => client.admin.push.messages.get(first.id))
  }
  return m
}

function countsLine(c: PushCounts): string {
  const parts = [
    `targeted ${c.targeted}`,
    `sent ${c.sent}`,
    `failed ${c.failed}`,
    `invalid token ${c.invalidToken}`,
    `pending ${c.pending}`,
  ]
  if (c.optedOut > 0) parts.push(`opted out ${c.optedOut}`)
  return parts.join(', ')
}

function messageLines(m: PushMessage): string[] {
  const rows: [string, string | null | undefined][] = [
    ['id', m.id],
    ['status', m.status],
    ['to', targetOf(m.to)],
    ['topic', m.topic],
    ['title', m.title],
    ['body', m.body],
    ['data', m.data ? JSON.stringify(m.data) : null],
    ['silent', m.silent ? 'yes' : null],
    ['send at', m.sendAt],
    ['source', m.source],
    ['created', m.createdAt],
    ['completed', m.completedAt],
    ['counts', countsLine(m.counts)],
  ]
  const shown = rows.filter((r): r is [string, string] => typeof r[1] === 'string' && r[1] !== '')
  const width = Math.max(...shown.map(([k]) => k.length))
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`)
}

function targetOf(t: PushTarget): string {
  if (t.users) return `users ${t.users.join(',')}`
  if (t.devices) return `devices ${t.devices.join(',')}`
  if (t.topic !== undefined) return `topic ${t.topic}`
  if (t.filter !== undefined) return `filter ${t.filter}`
  return 'all'
}

function ruleOf(rule: string | null): string {
  return rule === null ? 'admins only' : rule === '' ? 'anyone' : rule
}

function credentialLines(s: PushCredentialsStatus): string[] {
  return [
    `apns     ${s.apns ? `team ${s.apns.teamId}, key ${s.apns.keyId}, bundle ${s.apns.bundleId} (${s.apns.updatedAt})` : 'not configured'}`,
    `fcm      ${s.fcm ? `project ${s.fcm.projectId}, ${s.fcm.clientEmail} (${s.fcm.updatedAt})` : 'not configured'}`,
    `webpush  ${s.webpush ? `${s.webpush.subject}, public key ${s.webpush.publicKey} (${s.webpush.updatedAt})` : 'not configured'}`,
  ]
}

function readFile(file: string, option: string): string {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (err) {
    throw usage(
      `${option}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`,
    )
  }
}

function wholeNumber(v: string, option: string): number {
  if (!/^\d+$/.test(v)) throw usage(`${option} must be a whole number, not "${v}".`)
  return Number(v)
}

function limitOf(v: string, max: number): number {
  const n = Number(v)
  if (!/^\d+$/.test(v) || n < 1 || n > max) throw usage(`--limit must be a whole number from 1 to ${max}.`)
  return n
}
