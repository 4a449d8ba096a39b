import { createHash } from 'node:crypto'
import { type FunctionManifest, TRIGGER_KINDS, type TriggerKind } from '@bastide/protocol'
import { Hono } from 'hono'
import { z } from 'zod'
import { type Principal, principalId } from '../../core/auth/principal.ts'
import type { FunctionEngine } from '../../core/functions/function-engine.ts'
import { functionStore } from '../../core/functions/function-store.ts'
import { decodeInvocationCursor, listInvocations } from '../../core/functions/invocation-log.ts'
import { functionError } from '../../core/functions/runtime/function-error.ts'
import type { FunctionRuntime } from '../../core/functions/runtime/types.ts'
import { sealSecret } from '../../core/functions/sealed-secret.ts'
import {
  FUNCTION_NAME,
  type ManifestContext,
  validateManifest,
} from '../../core/functions/validate-manifest.ts'
import type { Db } from '../../db/create-db.ts'
import { errors } from '../../errors/index.ts'
import type { AdminActions } from '../../events/admin-actions.ts'
import type { AppEnv } from '../../http/context.ts'
import { requireScope } from '../../http/middleware/require-scope.ts'

/** A function module's source, at most (the CLI bundles npm imports in: 5 MiB leaves room). */
export const MAX_SOURCE_BYTES = 5 * 1024 * 1024
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/
const MAX_SECRET_BYTES = 64 * 1024
const INVOCATION_STATUSES = ['ok', 'error', 'timeout', 'killed'] as const

export const deployInput = z.strictObject({
  source: z
    .string()
    .min(1)
    .refine((s) => Buffer.byteLength(s) <= MAX_SOURCE_BYTES, `must be at most ${MAX_SOURCE_BYTES} bytes`),
})
export const rollbackInput = z.strictObject({ version: z.number().int().min(1) })
export const secretInput = z.strictObject({
  value: z
    .string()
    .refine((s) => Buffer.byteLength(s) <= MAX_SECRET_BYTES, `must be at most ${MAX_SECRET_BYTES} bytes`),
})
export const invokeInput = z.strictObject({ event: z.record(z.string(), z.unknown()) })
export const invocationsQuery = z.object({
  status: z.enum(INVOCATION_STATUSES).optional(),
  trigger: z.enum(TRIGGER_KINDS).optional(),
  cursor: z
    .string()
    .max(200)
    .refine((s) => decodeInvocationCursor(s) !== undefined, 'must be the nextCursor of a previous page')
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})

const notFound = (name: string) => functionError('FUNCTION_NOT_FOUND', `No function is named "${name}".`)

function nameOf(raw: string): string {
  if (!FUNCTION_NAME.test(raw))
    throw errors.validation({
      name: {
        code: 'invalid',
        message: 'A function name is a-z, 0-9 and -, starting with a letter (63 at most).',
      },
    })
  return raw
}

/**
 * /api/admin/functions: console admins and API keys with the `functions` scope. Deploys (a new version, active
 * at once), versions and rollback, secrets (write-only), invocation logs and test runs. Every change is an
 * admin action, recorded in the transaction that makes it.
 */
export function functionAdminRoutes(deps: {
  readonly db: Db
  readonly actions: AdminActions
  readonly runtime: FunctionRuntime
  readonly engine: FunctionEngine
  readonly secretsKey: Buffer
  readonly manifestContext: ManifestContext
  /** Writes this node's buffered invocation rows, so that a list right after a run shows it. */
  readonly flushInvocations: () => Promise<void>
}) {
  const { db, actions, engine } = deps
  const r = new Hono<AppEnv>()
  r.use(requireScope('functions'))

  r.get('/', async (c) => c.json({ items: await functionStore.list(db) }))

  r.put('/:name', async (c) => {
    const name = nameOf(c.req.param('name'))
    const { source } = deployInput.parse(await c.req.json())
    const checksum = createHash('sha256').update(source).digest('hex')
    const current = await functionStore.detail(db, name)
    // The same source again (a CI deploy of an unchanged function): nothing to do.
    if (current && current.versions.find((v) => v.active)?.checksum === checksum) return c.json(current, 200)
    const raw = await deps.runtime.inspect(source)
    const checked = await validateManifest(raw, deps.manifestContext)
    if (!checked.manifest)
      throw functionError(
        'FUNCTION_INVALID',
        `The function's declaration is not valid: ${checked.problems[0]}`,
        {
          problems: checked.problems,
        },
      )
    const manifest: FunctionManifest = checked.manifest
    if (manifest.privileged) mayRunAsAdmin(c.var.principal)
    const actor = principalId(c.var.principal)
    const deployed = await db.transaction().execute(async (trx) => {
      const d = await functionStore.deploy(trx, { name, source, checksum, manifest, createdBy: actor })
      await actions.record(trx, {
        actor,
        action: d.created ? 'function.create' : 'function.deploy',
        target: name,
        details: { version: d.version, checksum, previous: d.previous },
      })
      return d
    })
    await engine.sync()
    return c.json(await functionStore.detail(db, name), deployed.created ? 201 : 200)
  })

  r.get('/:name', async (c) => {
    const name = nameOf(c.req.param('name'))
    const f = await functionStore.detail(db, name)
    if (!f) throw notFound(name)
    return c.json(f)
  })

  r.get('/:name/versions/:version', async (c) => {
    const name = nameOf(c.req.param('name'))
    const version = Number(c.req.param('version'))
    const v = Number.isSafeInteger(version) ? await functionStore.version(db, name, version) : undefined
    if (!v) throw errors.notFound('Function version')
    return c.json({ version: v.version, source: v.source })
  })

  r.post('/:name/rollback', async (c) => {
    const name = nameOf(c.req.param('name'))
    const { version } = rollbackInput.parse(await c.req.json())
    if (!(await functionStore.detail(db, name))) throw notFound(name)
    if ((await functionStore.version(db, name, version))?.manifest.privileged) mayRunAsAdmin(c.var.principal)
    await db.transaction().execute(async (trx) => {
      const from = await functionStore.activate(trx, name, version)
      if (from === undefined) throw errors.notFound('Function version')
      await actions.record(trx, {
        actor: principalId(c.var.principal),
        action: 'function.rollback',
        target: name,
        details: { from, to: version },
      })
    })
    await engine.sync()
    return c.json(await functionStore.detail(db, name))
  })

  r.delete('/:name', async (c) => {
    const name = nameOf(c.req.param('name'))
    await db.transaction().execute(async (trx) => {
      if (!(await functionStore.remove(trx, name))) throw notFound(name)
      await actions.record(trx, {
        actor: principalId(c.var.principal),
        action: 'function.delete',
        target: name,
      })
    })
    await engine.forget(name)
    return c.body(null, 204)
  })

  r.put('/:name/secrets/:secret', async (c) => {
    const name = nameOf(c.req.param('name'))
    const secret = secretName(c.req.param('secret'))
    const { value } = secretInput.parse(await c.req.json())
    await db.transaction().execute(async (trx) => {
      const sealed = sealSecret(deps.secretsKey, `${name}/${secret}`, value)
      if (!(await functionStore.putSecret(trx, name, secret, sealed))) throw notFound(name)
      // The name only: a secret's value is never recorded anywhere but sealed in its row.
      await actions.record(trx, {
        actor: principalId(c.var.principal),
        action: 'function.secret.set',
        target: name,
        details: { secret },
      })
    })
    await engine.sync()
    return c.body(null, 204)
  })

  r.delete('/:name/secrets/:secret', async (c) => {
    const name = nameOf(c.req.param('name'))
    const secret = secretName(c.req.param('secret'))
    await db.transaction().execute(async (trx) => {
      if (!(await functionStore.deleteSecret(trx, name, secret))) throw errors.notFound('Secret')
      await actions.record(trx, {
        actor: principalId(c.var.principal),
        action: 'function.secret.delete',
        target: name,
        details: { secret },
      })
    })
    await engine.sync()
    return c.body(null, 204)
  })

  r.get('/:name/invocations', async (c) => {
    const name = nameOf(c.req.param('name'))
    const q = invocationsQuery.parse(c.req.query())
    if (!(await functionStore.detail(db, name))) throw notFound(name)
    await deps.flushInvocations()
    return c.json(
      await listInvocations(db, {
        function: name,
        limit: q.limit,
        ...(q.status ? { status: q.status } : {}),
        ...(q.trigger ? { trigger: q.trigger } : {}),
        ...(q.cursor ? { cursor: decodeInvocationCursor(q.cursor)! } : {}),
      }),
    )
  })

  r.post('/:name/invoke', async (c) => {
    const name = nameOf(c.req.param('name'))
    const { event } = invokeInput.parse(await c.req.json())
    const f = await engine.find(name)
    if (!f) throw notFound(name)
    const trigger = event.trigger as TriggerKind
    if (trigger === 'http' || !TRIGGER_KINDS.includes(trigger))
      throw errors.validation({
        'event.trigger': {
          code: 'invalid',
          message: 'One of record, auth, storage, cron, sync (call HTTP triggers at /api/functions/<name>).',
        },
      })
    return c.json(await engine.invokeEvent(f, trigger, event))
  })

  return r
}

/**
 * A privileged function's ctx.client acts as an admin, whoever calls it: only an admin may make one live (a key
 * with the `functions` scope would otherwise be a way to every other scope).
 */
function mayRunAsAdmin(p: Principal): void {
  if (p.kind !== 'admin')
    throw errors.forbidden(
      'Only a console admin or the admin key may deploy a privileged function (its ctx.client acts as an admin).',
    )
}

function secretName(raw: string): string {
  if (!SECRET_NAME.test(raw))
    throw errors.validation({
      secret: {
        code: 'invalid',
        message: 'A secret name is letters, digits and _, not starting with a digit (64 at most).',
      },
    })
  return raw
}
