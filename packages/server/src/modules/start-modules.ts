import type { Logger } from 'pino'
import { authenticateToken } from '../core/auth/authenticate-token.ts'
import type { Authenticator, Principal } from '../core/auth/principal.ts'
import type { EventName } from '../events/catalog.ts'
import type { OpenApiPart } from '../openapi/auth-paths.ts'
import type { ModuleContext, ModuleDefinition, ModuleParts, Services } from './define-module.ts'
import type { Scheduler } from './scheduler.ts'

/** What every module's context shares (see ModuleContext); the rest is per module. */
export type SharedContext = Omit<
  ModuleContext<unknown>,
  'settings' | 'log' | 'use' | 'authenticate' | 'openApiParts' | 'fetch'
>

export interface StartedModule {
  readonly id: string
  readonly parts: ModuleParts
}

export interface StartedModules {
  readonly started: readonly StartedModule[]
  readonly services: Partial<Services>
  /** Every module's authenticators, in module order. */
  readonly authenticators: readonly Authenticator[]
  /** Gives the modules the app they answer requests in (ModuleContext.fetch), once it is built. */
  bindFetch(fetch: (request: Request) => Promise<Response>): void
  /** Runs each module's `ready` in order; a failure is logged, not fatal. */
  ready(): Promise<void>
  /** Ends long-lived client connections, last module first. */
  disconnect(): Promise<void>
  /** Unsubscribes their event handlers and closes them, last module first. */
  close(): Promise<void>
}

/**
 * Starts `modules` in order: each gets the shared context, its settings, a child logger and the services of
 * the modules before it; its event handlers go on the bus and its jobs on the scheduler. If one fails to
 * start, those already started are closed (last first) and the error is thrown.
 */
export async function startModules(
  modules: readonly ModuleDefinition<any>[],
  shared: SharedContext,
  k: { readonly log: Logger; readonly settings: ReadonlyMap<string, unknown>; readonly scheduler: Scheduler },
): Promise<StartedModules> {
  const services: Partial<Services> = {}
  const started: StartedModule[] = []
  const unsubscribe: (() => void)[] = []
  // Bound once every module has started: a module may hold these, and call them later (at request time).
  let authenticate: (token: string) => Promise<Principal | undefined> = async () => undefined
  let parts: Promise<readonly OpenApiPart[]> | undefined
  let appFetch: (request: Request) => Promise<Response> = async () => {
    throw new Error('The app is not built yet: call fetch after start.')
  }
  const close = async () => {
    for (const u of unsubscribe.splice(0)) u()
    for (const m of [...started].reverse()) await m.parts.close?.()
  }
  try {
    for (const m of modules) {
      const p = await m.start({
        ...shared,
        settings: k.settings.get(m.id),
        log: k.log.child({ module: m.id }),
        authenticate: (t) => authenticate(t),
        fetch: (r) => appFetch(r),
        // Generated once, on first use: fixed for the life of the process.
        openApiParts: () =>
          (parts ??= Promise.all(started.flatMap((s) => (s.parts.openapi ? [s.parts.openapi()] : [])))),
        use(name) {
          if (!(name in services))
            throw new Error(`Module ${m.id} uses "${name}", which no module before it provides.`)
          return services[name] as Services[typeof name]
        },
      })
      started.push({ id: m.id, parts: p })
      Object.assign(services, p.provides)
      for (const [event, h] of Object.entries(p.on ?? {}))
        unsubscribe.push(shared.bus.on(event as EventName, h as (payload: unknown) => void))
      for (const job of p.jobs ?? []) k.scheduler.add(m.id, job)
    }
    if (!services.keys) throw new Error('No module provides "keys": the core module must come first.')
  } catch (err) {
    await k.scheduler.close()
    await close().catch(() => {})
    throw err
  }
  const authenticators = started.flatMap((m) => m.parts.authenticators ?? [])
  authenticate = authenticateToken(services.keys, authenticators)
  return {
    started,
    services,
    authenticators,
    bindFetch(f) {
      appFetch = f
    },
    async ready() {
      for (const m of started)
        await m.parts
          .ready?.()
          .catch((err) => k.log.warn({ module: m.id, err: (err as Error).message }, 'module not ready'))
    },
    async disconnect() {
      for (const m of [...started].reverse()) await m.parts.disconnect?.()
    },
    close,
  }
}
