import { type Context, Hono } from 'hono'
import { z } from 'zod'
import { principalId } from '../../core/auth/principal.ts'
import type { SchemaService } from '../../core/schema/schema-service.ts'
import { parseInput } from '../../errors/parse-input.ts'
import type { AppEnv } from '../../http/context.ts'
import { jsonBody } from '../../http/middleware/json-body.ts'
import { assertScope } from '../../http/middleware/require-scope.ts'

/** POST /api/admin/schema/plan's body; also its request schema in /api/openapi.json (openapi.ts). */
export const planBody = z.strictObject({
  schema: z.unknown().describe('The target schema (a SchemaDocument, as GET /api/admin/schema answers).'),
  base: z
    .unknown()
    .optional()
    .describe(
      "Plan from this schema instead of the instance's (`bastide migrations new`: from the last migration's).",
    ),
  check: z
    .boolean()
    .default(false)
    .describe(
      'Also try the apply in a transaction that is rolled back: errors it would meet are answered now, and `sql` lists its statements. Takes the schema lock and runs the DDL (not with `base`).',
    ),
})

/** POST /api/admin/schema/apply's body. */
export const applyBody = z.strictObject({
  schema: z.unknown().describe('The target schema (a SchemaDocument).'),
  allowDestructive: z
    .boolean()
    .default(false)
    .describe('Apply changes that can lose data too (drops, lossy retypes); without it they are refused.'),
  expectHash: z
    .string()
    .max(100)
    .optional()
    .describe('The `hash` of the plan that was reviewed: refused when the plan would now differ.'),
})

/** Schema as code, under /api/admin/schema: console admins and API keys with the `schema` scope. */
export function schemaRoutes(deps: { readonly schema: SchemaService }) {
  const { schema } = deps
  const r = new Hono<AppEnv>()
  const actor = (c: Context<AppEnv>) => {
    const p = c.var.principal
    assertScope(p, 'schema')
    return principalId(p)
  }

  r.get('/', async (c) => {
    actor(c)
    return c.json(await schema.export())
  })
  r.post('/plan', async (c) => {
    actor(c)
    const body = parseInput(planBody, await jsonBody(c))
    return c.json(await schema.plan(body.schema, { base: body.base, check: body.check }))
  })
  r.post('/apply', async (c) => {
    const who = actor(c)
    const body = parseInput(applyBody, await jsonBody(c))
    const opts = {
      allowDestructive: body.allowDestructive,
      ...(body.expectHash !== undefined ? { expectHash: body.expectHash } : {}),
    }
    return c.json(await schema.apply(body.schema, opts, who))
  })
  r.get('/migrations', async (c) => {
    actor(c)
    return c.json({ items: await schema.migrations() })
  })
  r.post('/migrations', async (c) => {
    const who = actor(c)
    return c.json(await schema.applyMigration(await jsonBody(c), who))
  })
  return r
}
