import { generateKeyPairSync } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { freePort } from '../src/db/embedded-postgres.ts'
import { startApnsPeer } from '../test/support/push-peers/apns-peer.ts'
import { startFcmPeer } from '../test/support/push-peers/fcm-peer.ts'
import {
  startUnifiedPushReceiver,
  type UnifiedPushReceiver,
} from '../test/support/push-peers/unifiedpush-receiver.ts'
import { startWebPushReceiver, type WebPushReceiver } from '../test/support/push-peers/web-push-receiver.ts'
import {
  adminCall,
  cleanups,
  createDatabase,
  installCleanupHandlers,
  MB,
  machineLine,
  printTable,
  runMain,
  spawnBastide,
  tempDir,
  waitReady,
} from './lib.ts'

const PROVIDERS = ['apns', 'fcm', 'webpush', 'unifiedpush'] as const
type Provider = (typeof PROVIDERS)[number]
/** The bundle id / package name of every benchmark device (the APNs peer accepts this topic only). */
const APP_ID = 'com.example.bench'

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    devices: { type: 'string', default: process.env.BENCH_DEVICES ?? '100000' },
    providers: { type: 'string', default: PROVIDERS.join(',') },
    timeout: { type: 'string', default: '1800' },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (args.help) {
  console.log(
    'usage: tsx bench/push.ts [--devices N] [--providers apns,fcm,webpush,unifiedpush] [--timeout s] [--cpu-prof dir]\n' +
      'BASTIDE_PUSH_BATCH_SIZE, BASTIDE_PUSH_CONCURRENCY… in the environment reach the server.',
  )
  process.exit(0)
}
const DEVICES = Number(args.devices)
const TIMEOUT_S = Number(args.timeout)
const CHOSEN = args.providers.split(',').map((p) => p.trim()) as Provider[]
if (!Number.isInteger(DEVICES) || DEVICES <= 0) {
  console.error('--devices must be a positive integer')
  process.exit(2)
}
if (!(TIMEOUT_S > 0)) {
  console.error('--timeout must be a positive number of seconds')
  process.exit(2)
}
for (const p of CHOSEN)
  if (!(PROVIDERS as readonly string[]).includes(p)) {
    console.error(`--providers: unknown provider ${p} (${PROVIDERS.join(', ')})`)
    process.exit(2)
  }

installCleanupHandlers()

/** kB values of /proc/<pid>/status (VmRSS, VmHWM), in bytes; undefined off Linux or once the process is gone. */
function procStatus(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? Number.NaN) * 1024
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
  } catch {
    return undefined
  }
}

/**
 * Benchmark shortcut: the devices are inserted with SQL instead of N `POST /api/push/devices` (device i on provider
 * i mod k); what the server sends to them is unchanged. APNs and FCM tokens come from `generate_series`; Web Push
 * and UnifiedPush endpoints are the receivers' subscriptions, one each (Web Push ones with their own keys).
 */
async function seedDevices(dbUrl: string, peers: PushPeers): Promise<Map<Provider, number>> {
  const c = new pg.Client({ connectionString: dbUrl })
  await c.connect()
  try {
    const k = CHOSEN.length
    for (const [slot, provider] of CHOSEN.entries()) {
      if (provider === 'apns' || provider === 'fcm') {
        // APNs tokens are 64 hex digits; both are unique per device.
        const token =
          provider === 'apns' ? `md5(i::text) || md5('bench' || i::text)` : `'bench-fcm-' || i::text`
        await c.query(
          `INSERT INTO bastide.push_devices (id, provider, token, app_id, environment)
           SELECT 'bench-device-' || lpad(i::text, 9, '0'), $1, ${token}, $2, $3
           FROM generate_series($4::int, $5::int - 1, $6::int) AS i`,
          [provider, APP_ID, provider === 'apns' ? 'production' : null, slot, DEVICES, k],
        )
        continue
      }
      const ids: number[] = []
      const tokens: string[] = []
      const keys: (string | null)[] = []
      for (let i = slot; i < DEVICES; i += k) {
        const sub = peers.subscribe(provider)
        ids.push(i)
        tokens.push(sub.endpoint)
        keys.push(sub.keys ? JSON.stringify(sub.keys) : null)
      }
      await c.query(
        `INSERT INTO bastide.push_devices (id, provider, token, keys, app_id)
         SELECT 'bench-device-' || lpad(d.i::text, 9, '0'), $1, d.token, d.keys, $2
         FROM unnest($3::int[], $4::text[], $5::jsonb[]) AS d (i, token, keys)`,
        [provider, provider === 'webpush' ? 'web' : APP_ID, ids, tokens, keys],
      )
    }
    await c.query('ANALYZE bastide.push_devices')
    const { rows } = await c.query<{ provider: Provider; n: string }>(
      'SELECT provider, count(*) AS n FROM bastide.push_devices GROUP BY provider',
    )
    return new Map(rows.map((r) => [r.provider, Number(r.n)]))
  } finally {
    await c.end()
  }
}

/** Linux's USER_HZ, which /proc/<pid>/stat counts in. */
const CLK_TCK = 100

/** CPU seconds (user + system) a process used so far, from /proc; undefined off Linux. */
function procCpu(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / CLK_TCK
  } catch {
    return undefined
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}
const ms = (v: number) => (Number.isFinite(v) ? `${Math.round(v).toLocaleString('en-US')} ms` : '-')
const mib = (b: number | undefined) =>
  b !== undefined && Number.isFinite(b) ? `${Math.round(b / MB)} MiB` : '-'

const cpuProf = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args['cpu-prof'])}`] : []

runMain(async () => {
  const dir = tempDir('push')
  const peers = await startPushPeers(dir)
  cleanups.push(() => peers.close())

  const dbUrl = await createDatabase()
  const port = await freePort()
  const dataDir = path.join(dir, 'data')
  fs.mkdirSync(dataDir)
  // --cpu-prof: the server writes a .cpuprofile (Chrome DevTools) into that directory when it stops.
  const child = spawnBastide({
    databaseUrl: dbUrl,
    port,
    dataDir,
    nodeArgs: cpuProf,
    env: { BASTIDE_CONSOLE_DIR: 'off', ...peers.serverEnv },
  })
  const base = `http://127.0.0.1:${port}`
  await waitReady(`${base}/api/health/live`, child)

  let vapidPublicKey: string | undefined
  for (const [provider, body] of Object.entries(peers.credentials))
    if (CHOSEN.includes(provider as Provider)) {
      const status = await adminCall(base, 'PUT', `/api/admin/push/credentials/${provider}`, body)
      if (provider === 'webpush') vapidPublicKey = status.webpush?.publicKey
    }
  await peers.startReceivers(vapidPublicKey)

  let t = performance.now()
  const perProvider = await seedDevices(dbUrl, peers)
  const seedSeconds = (performance.now() - t) / 1000
  console.log(machineLine())
  console.log(
    `${DEVICES.toLocaleString('en-US')} devices (${CHOSEN.join(', ')}), inserted in ${seedSeconds.toFixed(1)} s; ` +
      `batch ${process.env.BASTIDE_PUSH_BATCH_SIZE ?? '500'}, concurrency ${process.env.BASTIDE_PUSH_CONCURRENCY ?? '100'} per provider, ` +
      `${process.env.BASTIDE_JOBS_CONCURRENCY ?? '4'} send jobs at once (BASTIDE_JOBS_CONCURRENCY)\n`,
  )

  // Peak memory of the server while it sends: VmRSS sampled every 100 ms (VmHWM, the kernel's own peak, includes
  // start-up and seeding).
  const before = procStatus(child.pid!)
  let peakRss = before?.rss ?? Number.NaN
  const sampler = setInterval(() => {
    const s = procStatus(child.pid!)
    if (s && !(s.rss <= peakRss)) peakRss = s.rss
  }, 100)
  cleanups.push(() => clearInterval(sampler))

  const cpuBefore = { server: procCpu(child.pid!), peers: process.cpuUsage() }
  t = performance.now()
  const sent = await adminCall(base, 'POST', '/api/push/messages', {
    to: { all: true },
    title: 'Bench',
    body: 'One message to every device',
    data: { bench: '1' },
  })
  let message = sent
  const deadline = Date.now() + TIMEOUT_S * 1000
  while (message.status !== 'done') {
    if (Date.now() > deadline)
      throw new Error(
        `not done after ${TIMEOUT_S} s: ${JSON.stringify(message.counts)} (status ${message.status})`,
      )
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error('Bastide exited during the send')
    await new Promise((r) => setTimeout(r, 200))
    message = await adminCall(base, 'GET', `/api/push/messages/${sent.id}`)
  }
  const total = (performance.now() - t) / 1000
  clearInterval(sampler)
  const after = procStatus(child.pid!)
  const serverCpu = (procCpu(child.pid!) ?? Number.NaN) - (cpuBefore.server ?? Number.NaN)
  const peersUsage = process.cpuUsage(cpuBefore.peers)
  const peersCpu = (peersUsage.user + peersUsage.system) / 1e6

  const counts = message.counts
  const rows: string[][] = []
  let all: number[] = []
  for (const provider of CHOSEN) {
    const r = peers.received(provider)
    const lat = r.times.map((x) => x - t).sort((a, b) => a - b)
    all = all.concat(lat)
    rows.push([
      provider,
      (perProvider.get(provider) ?? 0).toLocaleString('en-US'),
      r.unique.toLocaleString('en-US'),
      String(r.repeats),
      ms(percentile(lat, 50)),
      ms(percentile(lat, 99)),
      ms(lat.at(-1) ?? Number.NaN),
    ])
  }
  all.sort((a, b) => a - b)
  rows.push([
    'all',
    DEVICES.toLocaleString('en-US'),
    rows.reduce((n, r) => n + Number(r[2]!.replaceAll(',', '')), 0).toLocaleString('en-US'),
    String(rows.reduce((n, r) => n + Number(r[3]), 0)),
    ms(percentile(all, 50)),
    ms(percentile(all, 99)),
    ms(all.at(-1) ?? Number.NaN),
  ])
  printTable(['provider', 'devices', 'received', 'repeats', 'p50', 'p99', 'last'], rows)
  console.log(
    `\nmessage ${message.status}: targeted ${counts.targeted}, sent ${counts.sent}, failed ${counts.failed}, ` +
      `invalid token ${counts.invalidToken}, pending ${counts.pending}`,
  )
  console.log(
    `total ${total.toFixed(2)} s (POST → status done): ${Math.round(counts.sent / total).toLocaleString('en-US')} deliveries/s`,
  )
  console.log(
    `server memory (child process, /proc/${child.pid}/status): RSS ${mib(before?.rss)} before the send, ` +
      `peak ${mib(peakRss)} during it (sampled every 100 ms); VmHWM ${mib(after?.hwm)} since start`,
  )
  console.log(
    `CPU during the send: server ${Number.isFinite(serverCpu) ? serverCpu.toFixed(1) : '-'} s ` +
      `(${Number.isFinite(serverCpu) ? Math.round((serverCpu * 1e6) / Math.max(1, counts.sent)) : '-'} µs per delivery), ` +
      `peers and this script ${peersCpu.toFixed(1)} s`,
  )
  if (counts.sent !== DEVICES || counts.failed > 0 || counts.invalidToken > 0)
    console.log('WARNING: not every device got a sent delivery; the figures above are not a clean run.')
  const refusals = peers.refusals()
  if (refusals.length > 0)
    console.log(
      `the peers refused ${refusals.length} requests, e.g.:\n  ${refusals.slice(0, 5).join('\n  ')}`,
    )
  if (counts.failed > 0) {
    const failed = await adminCall(
      base,
      'GET',
      `/api/push/messages/${sent.id}/deliveries?status=failed&limit=5`,
    )
    for (const d of failed.items) console.log(`  failed ${d.provider} ${d.deviceId}: ${d.reason}`)
  }
})

// ---------------------------------------------------------------------------------------------------------------
// The loopback peers are the test suite's (test/support/push-peers/): they check what the providers check (the
// APNs provider JWT, FCM's OAuth exchange and message shape, VAPID and aes128gcm decryption for Web Push), so a
// delivery counts only once the peer accepted it. This file adds the time of each device's first acceptance.

interface Received {
  readonly unique: number
  readonly repeats: number
  /** performance.now() of each device's first acceptance. */
  readonly times: readonly number[]
}

interface PushPeers {
  /** The server's settings that point it at the peers. */
  readonly serverEnv: Record<string, string>
  /** `PUT /api/admin/push/credentials/<provider>` bodies (Web Push: the server generates the VAPID pair). */
  readonly credentials: Record<'apns' | 'fcm' | 'webpush', unknown>
  /** Starts the Web Push and UnifiedPush receivers, once the VAPID public key is known. */
  startReceivers(vapidPublicKey: string | undefined): Promise<void>
  /** A new subscription on a receiver: its endpoint (the device's token) and keys (Web Push). */
  subscribe(provider: 'webpush' | 'unifiedpush'): {
    endpoint: string
    keys: { p256dh: string; auth: string } | null
  }
  received(provider: Provider): Received
  /** What the peers refused, a few lines (nothing in a clean run). */
  refusals(): string[]
  close(): Promise<void>
}

/** Calls `onPush(item)` whenever the peer appends to `list` (the peers record accepted notifications that way). */
function watch<T>(list: T[], onPush: (item: T) => void): void {
  const push = list.push.bind(list)
  list.push = (...items: T[]) => {
    for (const item of items) onPush(item)
    return push(...items)
  }
}

async function startPushPeers(dir: string): Promise<PushPeers> {
  const apnsKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const fcmKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const apns = await startApnsPeer({
    publicKey: apnsKey.publicKey,
    keyId: 'BENCHKEY01',
    teamId: 'BENCHTEAM1',
    topics: [APP_ID],
  })
  const fcm = await startFcmPeer({
    projectId: 'bench-project',
    clientEmail: 'bench@bench-project.iam.gserviceaccount.com',
    publicKey: fcmKey.publicKey,
  })
  const caFile = path.join(dir, 'peers-ca.pem')
  fs.writeFileSync(caFile, apns.ca)

  const seen = new Map<Provider, { first: Map<string, number>; repeats: number }>()
  for (const p of PROVIDERS) seen.set(p, { first: new Map(), repeats: 0 })
  const record = (provider: Provider, key: string) => {
    const s = seen.get(provider)!
    if (s.first.has(key)) s.repeats++
    else s.first.set(key, performance.now())
  }
  watch(apns.accepted, (r) => record('apns', r.token))
  watch(fcm.accepted, (r) => record('fcm', String(r.message.token)))
  let web: WebPushReceiver | undefined
  let up: UnifiedPushReceiver | undefined
  let upCount = 0

  return {
    serverEnv: {
      BASTIDE_PUSH_APNS_ORIGIN: apns.origin,
      BASTIDE_PUSH_FCM_ORIGIN: fcm.origin,
      BASTIDE_PUSH_CA_FILE: caFile,
      BASTIDE_PUSH_ALLOW_HOSTS: '127.0.0.1',
    },
    credentials: {
      apns: {
        teamId: 'BENCHTEAM1',
        keyId: 'BENCHKEY01',
        bundleId: APP_ID,
        privateKey: apnsKey.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      },
      fcm: {
        serviceAccount: JSON.stringify({
          type: 'service_account',
          project_id: 'bench-project',
          private_key_id: 'bench',
          private_key: fcmKey.privateKey.export({ type: 'pkcs8', format: 'pem' }),
          client_email: 'bench@bench-project.iam.gserviceaccount.com',
          token_uri: fcm.tokenUri,
        }),
      },
      webpush: { subject: 'mailto:bench@example.com' },
    },
    async startReceivers(vapidPublicKey) {
      web = await startWebPushReceiver(vapidPublicKey ? { vapidPublicKey } : {})
      up = await startUnifiedPushReceiver()
      watch(web.received, (r) => record('webpush', r.subscription))
      watch(up.received, (r) => record('unifiedpush', r.endpoint))
    },
    subscribe(provider) {
      if (provider === 'unifiedpush') {
        if (!up) throw new Error('startReceivers first')
        return { endpoint: up.endpoint(`d${upCount++}`), keys: null }
      }
      if (!web) throw new Error('startReceivers first')
      const { endpoint, keys } = web.subscribe()
      return { endpoint, keys: keys ? { p256dh: keys.p256dh, auth: keys.auth } : null }
    },
    received(provider) {
      const s = seen.get(provider)!
      return { unique: s.first.size, repeats: s.repeats, times: [...s.first.values()] }
    },
    refusals() {
      const out: string[] = []
      for (const a of [...apns.answers, ...fcm.answers])
        if (a.status !== 200)
          out.push(`${a.status} ${'reason' in a ? (a.reason ?? '') : ''} (${a.token.slice(0, 12)}…)`)
      for (const r of web?.refused ?? []) out.push(`${r.status} ${r.why}`)
      return out
    },
    async close() {
      await Promise.all([apns.close(), fcm.close(), web?.close(), up?.close()])
    },
  }
}
