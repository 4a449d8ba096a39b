import { createHash, randomBytes } from 'node:crypto'
import type {
  FunctionTrigger,
  Invocation,
  RecordAction,
  StorageEventName,
  SyncMergeEvent,
  TriggerKind,
} from '@bastide/protocol'
import type { Logger } from 'pino'
import type { Db } from '../../db/create-db.ts'
import { AppError } from '../../errors/index.ts'
import type { AfterAuthHook, AuthHookHandlers, AuthHookUser, BlockingAuthHook } from '../auth/auth-hooks.ts'
import { ANONYMOUS, type Authenticator, type Principal } from '../auth/principal.ts'
import type { ObjectChange } from '../files/objects.ts'
import type { JobContext, Jobs } from '../jobs/types.ts'
import type { Mailer } from '../mail/mailer.ts'
import { uuidv7 } from '../records/uuidv7.ts'
import { functionMailSender } from './function-mail.ts'
import { functionPushSender, type PushMessagesLike } from './function-push.ts'
import { type ActiveFunction, functionStore } from './function-store.ts'
import type { InvocationLog } from './invocation-log.ts'
import { BridgeRefusal } from './runtime/function-error.ts'
import { MAX_CLIENT_RESPONSE_BYTES, readCapped } from './runtime/read-capped.ts'
import type { FunctionRuntime, HostBridge, SandboxInput, SandboxResult } from './runtime/types.ts'
import { openSecret } from './sealed-secret.ts'
import { triggersOf } from './validate-manifest.ts'

/** The durable record events (the jobs module's outbox), as far as functions use them. */
export interface RecordOutboxLike {
  subscribe(queue: string, wants: (collection: string, action: RecordAction) => boolean): () => void
}

/** Event jobs of function `name` go to this queue; out of retries, to `<queue>.dead`. */
export const functionQueue = (name: string) => `functions.${name}`
/** One queue per cron trigger (the jobs service sends each slot to the queue named like its schedule). */
const cronQueue = (name: string, cron: string) =>
  `functions.${name}.cron-${createHash('sha256').update(cron).digest('hex').slice(0, 8)}`

/** Prefix of the per-invocation credentials `ctx.client` calls the server with. */
const CREDENTIAL_PREFIX = 'bst_fn_'
/** Function → ctx.client → function... stops here. */
const MAX_DEPTH = 4
/** A node that has not read the functions for this long reads them again before it runs a blocking auth hook. */
const STALE_AFTER_MS = 10_000
const DEFAULT_RETRIES = 3

export interface FunctionEngineDeps {
  readonly db: Db
  readonly log: Logger
  readonly runtime: FunctionRuntime
  readonly jobs: Jobs
  readonly outbox: RecordOutboxLike | undefined
  readonly invocations: InvocationLog
  readonly secretsKey: Buffer
  /** BASTIDE_FUNCTIONS_TIMEOUT_MS and _MEMORY_MB: the ceilings a manifest may only lower. */
  readonly maxTimeoutMs: number
  readonly maxMemoryMb: number
  /** BASTIDE_FUNCTIONS_ALLOW_HOSTS: a manifest's allowHosts count only where listed here too. */
  readonly allowHosts: readonly string[]
  /** The server's own app, in-process (ModuleContext.fetch); `baseUrl` makes absolute URLs for it. */
  readonly fetch: (request: Request) => Promise<Response>
  readonly baseUrl: string
  /** ctx.mail: the server's mailer (auth's: SMTP from the settings, each recipient's budget). */
  readonly mailer: Pick<Mailer, 'send'>
  /** ctx.push: the push module's messages (`use('push')`), sent with source `function:<name>`. */
  readonly push: PushMessagesLike
}

interface Loaded extends ActiveFunction {
  readonly triggers: readonly FunctionTrigger[]
  readonly unsubscribe: (() => void) | undefined
  /** Cron queue (schedule) names → cron. */
  readonly crons: ReadonlyMap<string, string>
}

/** An HTTP invocation's answer (the body streams on) and its end, when the row is final. */
export interface HttpOutcome {
  readonly invocationId: string
  readonly result: SandboxResult
}

export type HttpRequestInput = Extract<SandboxInput, { kind: 'http' }>['request']

/**
 * What a node runs: the active version of every function (reloaded when `revision` changes, see sync), their
 * queues and cron schedules, record and storage subscriptions, auth hooks, and every invocation logged.
 */
export function createFunctionEngine(deps: FunctionEngineDeps) {
  const { db, log, runtime, jobs } = deps
  const loaded = new Map<string, Loaded>()
  /** Queues this node works, with the retry limit they were declared with. */
  const working = new Map<string, number>()
  const credentials = new Map<string, { principal: Principal; depth: number }>()
  let syncing: Promise<void> = Promise.resolve()
  let closed = false

  const keyOf = (f: ActiveFunction) => `${f.name}@${f.version}`
  const retriesOf = (f: ActiveFunction) => f.manifest.retries ?? DEFAULT_RETRIES
  const limitsOf = (f: ActiveFunction) => ({
    timeoutMs: Math.min(f.manifest.timeoutMs ?? deps.maxTimeoutMs, deps.maxTimeoutMs),
    memoryMb: Math.min(f.manifest.memoryMb ?? deps.maxMemoryMb, deps.maxMemoryMb),
  })

  // ---- invocations ----

  /** Opened secrets per function, as of a revision (a secret change bumps it, and sync reloads). */
  const opened = new Map<string, { revision: number; secrets: Readonly<Record<string, string>> }>()

  async function secretsOf(f: ActiveFunction): Promise<Record<string, string>> {
    const cached = opened.get(f.name)
    if (cached?.revision === f.revision) return { ...cached.secrets }
    const secrets = await readSecrets(f.name)
    opened.set(f.name, { revision: f.revision, secrets })
    return { ...secrets }
  }

  async function readSecrets(name: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    for (const s of await functionStore.sealedSecrets(db, name)) {
      try {
        out[s.name] = openSecret(deps.secretsKey, `${name}/${s.name}`, s.sealed)
      } catch {
        // BASTIDE_SECRET changed since it was set: the function runs without it (and says so in its logs).
        log.warn(
          { function: name, secret: s.name },
          'a function secret does not open with this server secret',
        )
      }
    }
    return out
  }

  /**
   * What the sandbox asks the host for: ctx.client's requests (the server's own app, as `principal`, with a
   * credential valid for this call only), ctx.mail and ctx.push.
   */
  function bridge(
    f: ActiveFunction,
    principal: Principal,
    depth: number,
    secrets: Record<string, string>,
  ): HostBridge & { release(): void } {
    const token = `${CREDENTIAL_PREFIX}${randomBytes(24).toString('base64url')}`
    const mail = functionMailSender(deps.mailer, (err) =>
      log.warn({ function: f.name, err: err.message }, 'a function mail could not be sent'),
    )
    const push = functionPushSender(deps.push, f.name, (err) =>
      log.warn({ function: f.name, err: err.message }, 'a function push message could not be queued'),
    )
    credentials.set(token, { principal, depth })
    return {
      secrets,
      allowHosts: (f.manifest.allowHosts ?? []).filter((h) => deps.allowHosts.includes(h.toLowerCase())),
      async request(req) {
        if (!credentials.has(token)) throw new Error('The invocation has ended.')
        if (!req.path.startsWith('/') || req.path.startsWith('//'))
          throw new Error('ctx.client requests a path of this server (starting with /).')
        const headers = new Headers(req.headers)
        // The sandbox never chooses who it is: only this invocation's credential goes out.
        headers.delete('cookie')
        headers.set('authorization', `Bearer ${token}`)
        // Nor where it comes from: a forwarded address would choose the client IP that rate limits count.
        for (const h of [...headers.keys()])
          if (h.startsWith('x-forwarded-') || h === 'forwarded' || h === 'x-real-ip') headers.delete(h)
        const res = await deps.fetch(
          new Request(new URL(req.path, deps.baseUrl), {
            method: req.method,
            headers,
            ...(req.body && req.method !== 'GET' && req.method !== 'HEAD'
              ? { body: new Uint8Array(req.body) }
              : {}),
          }),
        )
        return {
          status: res.status,
          headers: [...res.headers],
          body: await readCapped(res, MAX_CLIENT_RESPONSE_BYTES, 'ctx.client'),
        }
      },
      async mail(m) {
        if (!credentials.has(token)) throw new Error('the invocation has ended')
        await mail(m)
      },
      async push(m) {
        if (!credentials.has(token)) throw new BridgeRefusal('the invocation has ended')
        return push(m)
      },
      release: () => void credentials.delete(token),
    }
  }

  function record(
    f: ActiveFunction,
    id: string,
    trigger: TriggerKind,
    startedAt: Date,
    r: SandboxResult,
    o: { httpStatus?: number | null; job?: { id: string; attempt: number } | null },
  ): Invocation {
    const row = {
      id,
      function: f.name,
      version: f.version,
      trigger,
      status: r.status,
      httpStatus: o.httpStatus ?? null,
      startedAt,
      durationMs: r.durationMs,
      jobId: o.job?.id ?? null,
      attempt: o.job?.attempt ?? null,
      error: r.error,
      logs: r.logs,
    }
    deps.invocations.push(row)
    if (r.status !== 'ok')
      log.info(
        { function: f.name, version: f.version, trigger, status: r.status, invocation: id },
        'function failed',
      )
    return { ...row, startedAt: startedAt.toISOString() }
  }

  /** Runs an event handler once and logs it; the result and the invocation as recorded. */
  async function runEvent(
    f: ActiveFunction,
    trigger: TriggerKind,
    event: unknown,
    principal: Principal,
    job: JobContext<unknown> | null,
  ): Promise<{ result: SandboxResult; invocation: Invocation }> {
    const id = uuidv7()
    const startedAt = new Date()
    const host = bridge(f, f.manifest.privileged ? { kind: 'admin' } : principal, 0, await secretsOf(f))
    let result: SandboxResult
    try {
      result = await runtime.invoke(
        keyOf(f),
        f.source,
        limitsOf(f),
        {
          kind: 'event',
          event,
          job: job ? { id: job.id, attempt: job.attempt, retryLimit: job.retryLimit } : null,
        },
        host,
      )
    } catch (err) {
      // The runtime could not run it at all (no worker could start): an error of this attempt, retried.
      result = {
        status: 'error',
        error: (err as Error).message,
        logs: [],
        durationMs: Date.now() - startedAt.getTime(),
      }
    } finally {
      host.release()
    }
    const invocation = record(f, id, trigger, startedAt, result, {
      job: job ? { id: job.id, attempt: job.attempt } : null,
    })
    return { result, invocation }
  }

  /** A queued event's handler `event`: record events come from the outbox as RecordEvents, cron slots as {schedule, at}. */
  function eventOf(data: unknown): { trigger: TriggerKind; event: Record<string, unknown> } | undefined {
    if (!data || typeof data !== 'object') return undefined
    const d = data as Record<string, unknown>
    if (typeof d.trigger === 'string') return { trigger: d.trigger as TriggerKind, event: d }
    if (typeof d.schedule === 'string' && typeof d.at === 'string')
      return { trigger: 'cron', event: { trigger: 'cron', schedule: d.schedule, at: d.at } }
    if (typeof d.collection === 'string' && typeof d.action === 'string')
      return { trigger: 'record', event: { trigger: 'record', event: d } }
    return undefined
  }

  function principalOf(event: Record<string, unknown>): Principal {
    const user = event.user as AuthHookUser | undefined
    if (event.trigger === 'auth' && user && typeof user.id === 'string')
      return { kind: 'user', id: user.id, record: user }
    return ANONYMOUS
  }

  async function handleJob(name: string, job: JobContext<unknown>): Promise<void> {
    const f = loaded.get(name)
    // Deleted since (or not yet loaded here: a deploy on another node, picked up at the next sync).
    const current = f ?? (await syncNow().then(() => loaded.get(name)))
    if (!current) {
      log.info({ function: name, job: job.id }, 'the function is gone: its job is dropped')
      return
    }
    const e = eventOf(job.data)
    if (!e) {
      log.warn({ function: name, job: job.id }, 'a job the function cannot read was dropped')
      return
    }
    const { result } = await runEvent(current, e.trigger, e.event, principalOf(e.event), job)
    // Thrown, the queue retries it (manifest.retries), then moves it to functions.<name>.dead.
    if (result.status !== 'ok')
      throw new Error(result.error ?? `The function ended with status ${result.status}.`)
  }

  // ---- wiring (per node) ----

  async function ensureWork(queue: string, f: ActiveFunction): Promise<void> {
    const retries = retriesOf(f)
    if (working.get(queue) === retries) return
    if (working.has(queue)) await jobs.stopWork(queue)
    working.set(queue, retries)
    await jobs.work(
      queue,
      { retryLimit: retries, deadLetter: `${functionQueue(f.name)}.dead` },
      (job: JobContext<unknown>) => handleJob(f.name, job),
    )
  }

  async function stopWork(queue: string): Promise<void> {
    if (!working.delete(queue)) return
    await jobs.stopWork(queue)
  }

  async function wire(f: ActiveFunction): Promise<void> {
    const prev = loaded.get(f.name)
    const triggers = triggersOf(f.manifest)
    prev?.unsubscribe?.()
    const records = triggers.flatMap((t) => ('record' in t ? [t.record] : []))
    const unsubscribe =
      records.length && deps.outbox
        ? deps.outbox.subscribe(functionQueue(f.name), (collection, action) =>
            records.some((r) => r.collection === collection && (!r.actions || r.actions.includes(action))),
          )
        : undefined
    const crons = new Map(
      triggers.flatMap((t) => ('cron' in t ? [[cronQueue(f.name, t.cron), t.cron] as const] : [])),
    )
    loaded.set(f.name, { ...f, triggers, unsubscribe, crons })
    for (const [queue] of prev?.crons ?? []) {
      if (crons.has(queue)) continue
      await jobs.unschedule(queue)
      await stopWork(queue)
    }
    // HTTP and sync triggers run in the request; cron slots have queues of their own.
    const queued = triggers.some((t) => !('http' in t) && !('cron' in t) && !('sync' in t))
    if (queued) await ensureWork(functionQueue(f.name), f)
    else await stopWork(functionQueue(f.name))
    for (const [queue, cron] of crons) {
      await ensureWork(queue, f)
      await jobs.schedule(queue, cron, {
        retryLimit: retriesOf(f),
        deadLetter: `${functionQueue(f.name)}.dead`,
      })
    }
  }

  async function unwire(name: string, o: { unschedule: boolean }): Promise<void> {
    const prev = loaded.get(name)
    if (!prev) return
    loaded.delete(name)
    opened.delete(name)
    prev.unsubscribe?.()
    for (const [queue] of prev.crons) {
      if (o.unschedule) await jobs.unschedule(queue)
      await stopWork(queue)
    }
    await stopWork(functionQueue(name))
  }

  /** When this node last read which functions exist (0: never): auth hooks fail closed on a stale view. */
  let syncedAt = 0
  async function syncOnce(): Promise<void> {
    if (closed) return
    const startedAt = Date.now()
    const revisions = await functionStore.revisions(db)
    for (const name of [...loaded.keys()]) if (!revisions.has(name)) await unwire(name, { unschedule: true })
    const changed = [...revisions].filter(([n, r]) => loaded.get(n)?.revision !== r).map(([n]) => n)
    if (changed.length) for (const f of await functionStore.active(db, changed)) await wire(f)
    runtime.retain(new Set([...loaded.values()].map(keyOf)))
    syncedAt = startedAt
  }

  /**
   * Reloads what changed since the last sync: one at a time, and callers arriving while one waits to start share
   * it (a flood of requests for unknown names makes one running sync and one waiting, never a queue).
   */
  let waiting: Promise<void> | undefined
  function syncNow(): Promise<void> {
    if (waiting) return waiting
    const run = () => {
      waiting = undefined
      return syncOnce()
    }
    const next = syncing.then(run, run)
    waiting = next
    syncing = next.catch(() => {})
    return next
  }

  // ---- triggers ----

  function enqueue(f: Loaded, data: Record<string, unknown>): void {
    jobs
      .send(functionQueue(f.name), data, { retryLimit: retriesOf(f) })
      .catch((err) =>
        log.error(
          { err: (err as Error).message, function: f.name, trigger: data.trigger },
          'could not queue a function event',
        ),
      )
  }

  /** A storage write committed: each function listening to that bucket and event gets a job. */
  function onObjectChange(change: ObjectChange): void {
    for (const f of loaded.values()) {
      const wants = f.triggers.some(
        (t) =>
          'storage' in t &&
          t.storage.bucket === change.bucket &&
          (!t.storage.events || t.storage.events.includes(change.name as StorageEventName)),
      )
      if (wants) enqueue(f, { trigger: 'storage', event: change })
    }
  }

  /** Not read for three sync periods: this node cannot tell which hooks exist. */
  const stale = () => Date.now() - syncedAt > STALE_AFTER_MS
  const hooked = (hook: string) =>
    [...loaded.values()]
      .filter((f) => f.triggers.some((t) => 'auth' in t && t.auth === hook))
      .sort((a, b) => a.name.localeCompare(b.name))

  /** Sign-up and sign-in: before-* run here and now (each function in name order; the first refusal wins). */
  const authHooks: AuthHookHandlers = {
    // Unknown (functions not read lately: the database is failing): a hook may exist, so ask, and refuse.
    wants: (hook) => stale() || hooked(hook).length > 0,
    async before(hook: BlockingAuthHook, user) {
      if (stale())
        try {
          await syncNow()
        } catch (err) {
          log.warn(
            { hook, err: (err as Error).message },
            'refused: the functions (and their auth hooks) cannot be read',
          )
          return 'Sign-ups and sign-ins are paused for a moment. Try again shortly.'
        }
      for (const f of hooked(hook)) {
        const { result } = await runEvent(f, 'auth', { trigger: 'auth', hook, user }, ANONYMOUS, null)
        if (result.status === 'timeout' || result.status === 'killed')
          return 'The sign-up or sign-in check did not answer in time.'
        // Its error (a fetch refused, a stack) is for the function's author, in its invocation log: not for the caller.
        if (result.status === 'error') return 'The sign-up or sign-in check failed.'
        const v = result.value as { allow?: unknown; message?: unknown } | null | undefined
        if (v && typeof v === 'object' && v.allow === false)
          return typeof v.message === 'string' && v.message ? v.message.slice(0, 500) : 'Refused.'
      }
      return undefined
    },
    async after(hook: AfterAuthHook, user) {
      for (const f of hooked(hook)) enqueue(f, { trigger: 'auth', hook, user })
    },
  }

  return {
    /** Reconciles this node with the functions table (deploys, rollbacks, deletes and secrets anywhere). */
    sync: syncNow,
    /** The active version as this node runs it (reloading once when it does not know the name). */
    async find(name: string): Promise<Loaded | undefined> {
      if (!loaded.has(name)) await syncNow()
      return loaded.get(name)
    },

    /**
     * Runs an HTTP trigger as `principal`; resolves once the function answered (its body still streaming). The
     * invocation is logged when the body is through (`done`). `credential`: the caller's bearer token, to count
     * nested calls made through ctx.client.
     */
    async invokeHttp(
      f: Loaded,
      request: HttpRequestInput,
      principal: Principal,
      credential: string | undefined,
    ): Promise<HttpOutcome> {
      const depth = credential ? (credentials.get(credential)?.depth ?? 0) : 0
      const id = uuidv7()
      const startedAt = new Date()
      const empty: SandboxResult = { status: 'error', error: null, logs: [], durationMs: 0 }
      if (depth + 1 >= MAX_DEPTH) {
        const r = { ...empty, error: `Functions called each other ${MAX_DEPTH} deep: refused.` }
        record(f, id, 'http', startedAt, r, { httpStatus: null })
        return { invocationId: id, result: r }
      }
      const host = bridge(
        f,
        f.manifest.privileged ? { kind: 'admin' } : principal,
        depth + 1,
        await secretsOf(f),
      )
      let result: SandboxResult
      try {
        result = await runtime.invoke(keyOf(f), f.source, limitsOf(f), { kind: 'http', request }, host)
      } catch (err) {
        host.release()
        // The node runs as many as it may (function-runtime.ts): 503 UNAVAILABLE with Retry-After, unlogged.
        if (err instanceof AppError && err.code === 'UNAVAILABLE') throw err
        result = { ...empty, error: (err as Error).message, durationMs: Date.now() - startedAt.getTime() }
        record(f, id, 'http', startedAt, result, {})
        return { invocationId: id, result }
      }
      const httpStatus = result.response?.status ?? null
      const finish = (r: SandboxResult) => {
        host.release()
        record(f, id, 'http', startedAt, r, { httpStatus })
      }
      if (result.done) result.done.then(finish, () => finish(result))
      else finish(result)
      return { invocationId: id, result }
    },

    /** A test run of an event handler (POST /api/admin/functions/:name/invoke): logged like any other. */
    async invokeEvent(f: Loaded, trigger: TriggerKind, event: Record<string, unknown>): Promise<Invocation> {
      // A test run's event is made up by whoever calls: ctx.client never acts as the user it names (a privileged
      // function still acts as an admin).
      return (await runEvent(f, trigger, event, ANONYMOUS, null)).invocation
    },

    /**
     * Runs function `name`'s sync trigger (a collection's merge function) now and answers with what it returned:
     * undefined when no such function, or none with a `{ sync: 'merge' }` trigger. Logged like any invocation;
     * ctx.client is anonymous (an admin when privileged), as for record events: the event is the caller's data.
     */
    async runSync(
      name: string,
      event: SyncMergeEvent,
    ): Promise<{ result: SandboxResult; invocation: Invocation } | undefined> {
      const f = loaded.get(name) ?? (await syncNow().then(() => loaded.get(name)))
      if (!f?.triggers.some((t) => 'sync' in t)) return undefined
      return runEvent(f, 'sync', event, ANONYMOUS, null)
    },

    /** Resolves the per-invocation `bst_fn_` credentials ctx.client sends. */
    authenticator: (async (token) =>
      token.startsWith(CREDENTIAL_PREFIX) ? credentials.get(token)?.principal : undefined) as Authenticator,

    authHooks,
    onObjectChange,
    functionQueue,

    /** Removes a deleted function from this node now, and its cron schedules everywhere. */
    async forget(name: string): Promise<void> {
      await unwire(name, { unschedule: true })
      runtime.retain(new Set([...loaded.values()].map(keyOf)))
    },

    async close(): Promise<void> {
      closed = true
      await syncing
      for (const f of loaded.values()) f.unsubscribe?.()
      for (const queue of [...working.keys()]) await stopWork(queue).catch(() => {})
      loaded.clear()
    },
  }
}

export type FunctionEngine = ReturnType<typeof createFunctionEngine>
