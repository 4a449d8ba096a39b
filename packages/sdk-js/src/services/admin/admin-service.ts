import type { Http } from '../../http.ts'
import type { SessionStorage } from '../../session-storage.ts'
import { AdminAdmins } from './admins.ts'
import { AdminAudit } from './audit.ts'
import { AdminBackups } from './backups.ts'
import { AdminChannels } from './channels.ts'
import { AdminCollections } from './collections.ts'
import { ConsoleAuth } from './console-auth.ts'
import { AdminFunctions } from './functions.ts'
import { AdminJobs } from './jobs.ts'
import { AdminKeys } from './keys.ts'
import { AdminLogs } from './logs.ts'
import { AdminMetrics } from './metrics.ts'
import { AdminPush } from './push.ts'
import { AdminSchema } from './schema.ts'
import { AdminSettings } from './settings.ts'
import { AdminSync } from './sync.ts'
import { AdminUsers } from './users.ts'
import { AdminWebhooks } from './webhooks.ts'

/**
 * What the console does, for the console, the CLI and scripts: `client.admin.*`. Every call takes a console
 * admin's session (`createClient({ url, console: true })` then `client.admin.auth.signIn`) or the admin key
 * (`createClient({ url, apiKey })`). Some also take an API key with the right scope:
 * - `collections`, `channels`, `schema`, `sync`: the `schema` scope;
 * - `keys`: the `keys` scope (a key mints keys within its own scopes only);
 * - `users`: the `users` scope — all but `users.impersonate`, which stays with console admins;
 * - `metrics`, `logs`: the `metrics` scope.
 * `auth`, `admins`, `audit` and `settings` answer to console admins and the admin key only (403 for any API key).
 */
export class AdminService {
  /** Console admins' sign-in (password, TOTP, passkey), sign-out, TOTP and passkeys of their own. */
  readonly auth: ConsoleAuth
  /** The console's admins: list, add, remove. */
  readonly admins: AdminAdmins
  readonly collections: AdminCollections
  readonly users: AdminUsers
  readonly keys: AdminKeys
  readonly audit: AdminAudit
  /** Realtime channel definitions (who may join, send, track). */
  readonly channels: AdminChannels
  /** Settings editable at run time: SMTP, CORS, rate limits, sign-in methods, OAuth providers. */
  readonly settings: AdminSettings
  /** Schema as code: export, plan and apply the whole schema; migrations. */
  readonly schema: AdminSchema
  /** This node's health and the last hour of requests (also for keys with the `metrics` scope). */
  readonly metrics: AdminMetrics
  /** Every node's recent API requests, filtered (also for keys with the `metrics` scope). */
  readonly logs: AdminLogs
  /** Backups: the schedule, runs and archives, a run now, a download of one taken now. */
  readonly backups: AdminBackups
  /** Outbound webhooks: signed record-change deliveries, their history, redelivery (also `functions` keys). */
  readonly webhooks: AdminWebhooks
  /** Functions: deploy, versions, rollback, secrets, invocation logs, test runs (also the `functions` scope). */
  readonly functions: AdminFunctions
  /** The durable job queue: queues, jobs, replay of dead letters, delete (also the `functions` scope). */
  readonly jobs: AdminJobs
  /** Push notifications: send, messages and deliveries, devices, credentials, topics (also the `push` scope). */
  readonly push: AdminPush
  /** Offline sync: which collections sync and how their conflicts resolve (also the `schema` scope). */
  readonly sync: AdminSync

  constructor(
    private readonly http: Http,
    opts: { storage?: SessionStorage | undefined; storageKey?: string | undefined } = {},
  ) {
    this.auth = new ConsoleAuth(http, opts)
    this.admins = new AdminAdmins(http)
    this.collections = new AdminCollections(http)
    this.users = new AdminUsers(http)
    this.keys = new AdminKeys(http)
    this.audit = new AdminAudit(http)
    this.channels = new AdminChannels(http)
    this.settings = new AdminSettings(http)
    this.schema = new AdminSchema(http)
    this.metrics = new AdminMetrics(http)
    this.logs = new AdminLogs(http)
    this.backups = new AdminBackups(http)
    this.webhooks = new AdminWebhooks(http)
    this.functions = new AdminFunctions(http)
    this.jobs = new AdminJobs(http)
    this.push = new AdminPush(http)
    this.sync = new AdminSync(http)
  }

  /**
   * Whether the server still waits for its first console admin.
   *
   * @example
   * if (await client.admin.setupNeeded()) showSetupForm()
   */
  async setupNeeded(opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    const r = await this.http.request<{ needed: boolean }>('/api/admin/setup', {
      auth: 'none',
      signal: opts.signal,
    })
    return r.needed
  }

  /**
   * Creates the first console admin with the one-time setup token from the server log, then signs in as them.
   *
   * @example
   * await client.admin.setup({ email, password, setupToken: 'bst_setup_…' })
   */
  async setup(input: { email: string; password: string; name?: string; setupToken: string }) {
    await this.http.request('/api/admin/setup', { method: 'POST', body: input, auth: 'none', retry: false })
    return this.auth.signIn({ email: input.email, password: input.password })
  }
}
