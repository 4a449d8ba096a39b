import {
  AUTH_HOOKS,
  type FunctionManifest,
  type FunctionTrigger,
  parseCron,
  STORAGE_EVENTS,
} from '@bastide/protocol'
import { z } from 'zod'

export const FUNCTION_NAME = /^[a-z][a-z0-9-]{0,62}$/

const ACTIONS = ['create', 'update', 'delete'] as const
const METHODS = /^[A-Z]{1,16}$/

const trigger = z.union([
  z.strictObject({
    http: z.union([
      z.literal(true),
      z.strictObject({
        methods: z.array(z.string().regex(METHODS, 'an HTTP method, upper case')).optional(),
      }),
    ]),
  }),
  z.strictObject({
    record: z.strictObject({
      collection: z.string().min(1).max(63),
      actions: z.array(z.enum(ACTIONS)).min(1).optional(),
    }),
  }),
  z.strictObject({ auth: z.enum(AUTH_HOOKS) }),
  z.strictObject({
    storage: z.strictObject({
      bucket: z.string().min(1).max(63),
      events: z.array(z.enum(STORAGE_EVENTS)).min(1).optional(),
    }),
  }),
  // A collection's merge function (offline sync's `function` conflict policy): run on a conflicting push.
  z.strictObject({ sync: z.literal('merge') }),
  z.strictObject({
    cron: z.string().superRefine((v, ctx) => {
      try {
        parseCron(v)
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `is not a cron expression: ${(err as Error).message}` })
      }
    }),
  }),
])

const manifest = z.object({
  on: z.union([trigger, z.array(trigger).min(1).max(32)]),
  privileged: z.boolean().optional(),
  timeoutMs: z.number().int().min(1).optional(),
  memoryMb: z.number().int().min(1).optional(),
  retries: z.number().int().min(0).max(25).optional(),
  allowHosts: z.array(z.string().min(1).max(253)).max(100).optional(),
})

/** What the server checks beyond the shape: the things a trigger names must exist. */
export interface ManifestContext {
  readonly hasCollection: (name: string) => boolean
  readonly hasBucket: (name: string) => Promise<boolean>
  /** BASTIDE_FUNCTIONS_ALLOW_HOSTS: the only hosts `allowHosts` may name. */
  readonly allowHosts: readonly string[]
}

/** The triggers of a manifest, always as a list. */
export function triggersOf(m: FunctionManifest): readonly FunctionTrigger[] {
  return Array.isArray(m.on) ? m.on : [m.on as FunctionTrigger]
}

/**
 * The manifest as deployed (only its known keys), or the list of what is wrong with it: an unknown trigger,
 * a cron that does not parse, a collection or bucket that does not exist, one auth hook declared twice.
 */
export async function validateManifest(
  raw: unknown,
  ctx: ManifestContext,
): Promise<{ manifest: FunctionManifest; problems: [] } | { manifest: undefined; problems: string[] }> {
  const parsed = manifest.safeParse(raw)
  if (!parsed.success)
    return {
      manifest: undefined,
      problems: parsed.error.issues.map((i) => `${i.path.join('.') || 'manifest'}: ${i.message}`),
    }
  const m = parsed.data as FunctionManifest
  const problems: string[] = []
  const hooks = new Set<string>()
  for (const t of triggersOf(m)) {
    if ('record' in t && !ctx.hasCollection(t.record.collection))
      problems.push(`on: the collection "${t.record.collection}" does not exist`)
    if ('storage' in t && !(await ctx.hasBucket(t.storage.bucket)))
      problems.push(`on: the bucket "${t.storage.bucket}" does not exist`)
    if ('auth' in t) {
      if (hooks.has(t.auth)) problems.push(`on: the auth hook "${t.auth}" is declared twice`)
      hooks.add(t.auth)
    }
  }
  for (const h of m.allowHosts ?? [])
    if (!ctx.allowHosts.includes(h.toLowerCase()))
      problems.push(
        `allowHosts: "${h}" is not in the server's BASTIDE_FUNCTIONS_ALLOW_HOSTS (an operator must allow it first)`,
      )
  return problems.length ? { manifest: undefined, problems } : { manifest: m, problems: [] }
}
