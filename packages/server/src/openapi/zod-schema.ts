import { z } from 'zod'

type Obj = Record<string, unknown>

/**
 * How a route's zod schema becomes the schema of its request body or query in the OpenAPI document.
 * `input`: the document tells clients what to send, so defaults are optional and coercions take what
 * is sent. OpenAPI 3.1 schemas are JSON Schema 2020-12. `z.custom` has no JSON Schema of its own:
 * without a `.meta()` hint it becomes `{}` (anything) rather than failing the whole document.
 */
export const ZOD_OPENAPI_OPTIONS = {
  target: 'draft-2020-12',
  io: 'input',
  unrepresentable: 'any',
  override: dropCaseInsensitivePatterns,
} as const satisfies Parameters<typeof z.toJSONSchema>[1]

/**
 * JSON Schema patterns have no flags: `/^image\/png$/i` written as `^image\/png$` would refuse the
 * `Image/PNG` the route accepts, so a case-insensitive pattern is left out (the route still checks it).
 */
function dropCaseInsensitivePatterns(ctx: { zodSchema: unknown; jsonSchema: Obj }): void {
  type Check = { _zod: { def: { pattern?: unknown } } }
  const checks = (ctx.zodSchema as { _zod: { def: { checks?: Check[] } } })._zod.def.checks ?? []
  const patterns = checks.flatMap((c) => (c._zod.def.pattern instanceof RegExp ? [c._zod.def.pattern] : []))
  if (!patterns.some((p) => p.flags.includes('i'))) return
  const sensitive = new Set(patterns.filter((p) => !p.flags.includes('i')).map((p) => p.source))
  if (typeof ctx.jsonSchema.pattern === 'string' && !sensitive.has(ctx.jsonSchema.pattern))
    delete ctx.jsonSchema.pattern
  // Several patterns become an allOf of { pattern }; keep only the case-sensitive ones.
  const all = ctx.jsonSchema.allOf as Obj[] | undefined
  if (all === undefined) return
  const kept = all.filter((s) => typeof s.pattern !== 'string' || sensitive.has(s.pattern))
  if (kept.length > 0) ctx.jsonSchema.allOf = kept
  else delete ctx.jsonSchema.allOf
}

/** The document's schema for what a route parses with `schema` (request body or one query value). */
export function zodSchema(schema: z.ZodType): Obj {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, ZOD_OPENAPI_OPTIONS) as Obj
  return rest
}

/**
 * The query parameters of a route that parses `c.req.query()` with `schema` (an object of strings):
 * one per property, in order, required when the schema requires it. A property's description is the
 * parameter's description too, which is where Swagger UI shows it.
 */
export function zodQueryParameters(schema: z.ZodType): Obj[] {
  const object = zodSchema(schema)
  const properties = (object.properties ?? {}) as Record<string, Obj>
  const required = new Set((object.required ?? []) as string[])
  return Object.entries(properties).map(([name, s]) => queryParameter(name, s, required.has(name)))
}

/** One query parameter, `name`, of `schema`: for components shared by several operations. */
export function zodQueryParameter(schema: z.ZodObject, name: string): Obj {
  const parameter = zodQueryParameters(schema).find((p) => p.name === name)
  if (parameter === undefined) throw new Error(`The query schema has no parameter ${name}.`)
  return parameter
}

const queryParameter = (name: string, schema: Obj, required: boolean): Obj => ({
  name,
  in: 'query',
  required,
  ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
  schema,
})
