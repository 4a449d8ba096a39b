import type {
  FunctionDetail,
  FunctionSummary,
  FunctionVersion,
  Invocation,
  InvocationPage,
  InvocationStatus,
  TriggerKind,
} from '@bastide/protocol'
import type { Http } from '../../http.ts'

export type {
  DeployFunctionInput,
  FunctionDetail,
  FunctionLogLine,
  FunctionManifest,
  FunctionSummary,
  FunctionTrigger,
  FunctionVersion,
  Invocation,
  InvocationPage,
  InvocationStatus,
  TriggerKind,
} from '@bastide/protocol'

/** Filters and paging of `invocations`. */
export interface InvocationQuery {
  readonly status?: InvocationStatus
  readonly trigger?: TriggerKind
  /** `nextCursor` of the previous page. */
  readonly cursor?: string
  /** 1 to 200 (the server's default when unset). */
  readonly limit?: number
  readonly signal?: AbortSignal
}

const path = (name: string, ...rest: string[]) =>
  ['/api/admin/functions', encodeURIComponent(name), ...rest.map(encodeURIComponent)].join('/')

/**
 * Functions: deploy, versions and rollback, secrets, invocation logs, test runs. Console admins, the admin key,
 * or API keys with the `functions` scope.
 */
export class AdminFunctions {
  constructor(private readonly http: Http) {}

  /**
   * Every function, with its active version, triggers and last invocation.
   *
   * @example
   * const fns = await client.admin.functions.list()
   */
  async list(opts: { signal?: AbortSignal } = {}): Promise<FunctionSummary[]> {
    const r = await this.http.request<{ items: FunctionSummary[] }>('/api/admin/functions', {
      signal: opts.signal,
    })
    return r.items
  }

  /**
   * One function: its active source, every version, its secrets' names. Rejects with `FUNCTION_NOT_FOUND`.
   *
   * @example
   * const { source, versions } = await client.admin.functions.get('welcome-email')
   */
  get(name: string, opts: { signal?: AbortSignal } = {}): Promise<FunctionDetail> {
    return this.http.request(path(name), { signal: opts.signal })
  }

  /**
   * Deploys `source` (one ES module: imports other than `@bastide/sdk/functions` must be bundled in) as the
   * function's new version, active at once; creates the function if needed. The server loads it first: a module
   * that does not load, or declares unknown collections, buckets or a bad cron, rejects with `FUNCTION_INVALID`
   * and changes nothing. Not retried: each call is a version.
   *
   * @example
   * const fn = await client.admin.functions.deploy('hello', `
   *   import { defineFunction } from '@bastide/sdk/functions'
   *   export default defineFunction({ on: { http: true }, handler: () => new Response('hi') })
   * `)
   * console.log(fn.version)
   */
  deploy(name: string, source: string, opts: { signal?: AbortSignal } = {}): Promise<FunctionDetail> {
    return this.http.request(path(name), {
      method: 'PUT',
      body: { source },
      signal: opts.signal,
      retry: false,
    })
  }

  /**
   * One version's source (any version, active or not).
   *
   * @example
   * const { source } = await client.admin.functions.version('hello', 3)
   */
  version(
    name: string,
    version: number,
    opts: { signal?: AbortSignal } = {},
  ): Promise<{ version: FunctionVersion; source: string }> {
    return this.http.request(path(name, 'versions', String(version)), { signal: opts.signal })
  }

  /**
   * Makes an earlier version the active one (its triggers replace the current ones).
   *
   * @example
   * await client.admin.functions.rollback('hello', 2)
   */
  rollback(name: string, version: number): Promise<FunctionDetail> {
    return this.http.request(path(name, 'rollback'), { method: 'POST', body: { version }, retry: false })
  }

  /**
   * Deletes a function: its versions, secrets and triggers (its HTTP route answers 404 from now on).
   *
   * @example
   * await client.admin.functions.remove('hello')
   */
  async remove(name: string): Promise<void> {
    await this.http.request(path(name), { method: 'DELETE' })
  }

  /**
   * Sets (or replaces) a secret, readable as `ctx.secrets[secret]` inside the function; stored encrypted, never
   * sent back.
   *
   * @example
   * await client.admin.functions.setSecret('welcome-email', 'MAIL_KEY', process.env.MAIL_KEY!)
   */
  async setSecret(name: string, secret: string, value: string): Promise<void> {
    await this.http.request(path(name, 'secrets', secret), { method: 'PUT', body: { value } })
  }

  /**
   * Removes a secret.
   *
   * @example
   * await client.admin.functions.deleteSecret('welcome-email', 'MAIL_KEY')
   */
  async deleteSecret(name: string, secret: string): Promise<void> {
    await this.http.request(path(name, 'secrets', secret), { method: 'DELETE' })
  }

  /**
   * One page of the function's invocations, newest first, with their log lines; pass `nextCursor` back as
   * `cursor` for the next (older) page.
   *
   * @example
   * const { items, nextCursor } = await client.admin.functions.invocations('hello', { status: 'error' })
   */
  invocations(name: string, query: InvocationQuery = {}): Promise<InvocationPage> {
    const { signal, ...q } = query
    return this.http.request(path(name, 'invocations'), { query: { ...q }, signal })
  }

  /**
   * Runs the function's event handler once with `event` (a test run; no queue, no retries) and resolves with
   * the invocation: status, error, logs.
   *
   * @example
   * const run = await client.admin.functions.invoke('on-post', {
   *   trigger: 'record',
   *   event: { seq: 1, action: 'create', collection: 'posts', record: { id: 'p1' }, at: new Date().toISOString() },
   * })
   * console.log(run.status, run.logs)
   */
  invoke(
    name: string,
    event: Readonly<Record<string, unknown>>,
    opts: { signal?: AbortSignal } = {},
  ): Promise<Invocation> {
    return this.http.request(path(name, 'invoke'), {
      method: 'POST',
      body: { event },
      signal: opts.signal,
      retry: false,
    })
  }
}
