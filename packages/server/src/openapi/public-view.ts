/**
 * The public OpenAPI document: what anonymous callers, app users and keys without the `schema` scope may
 * call. It leaves out locked operations (rule null: admins and keys only), collections locked for every
 * action, hidden fields, and the console's own API, so the document reveals no more than the API does.
 */
import type { Collection, RuleAction } from '../core/collections/types.ts'

/** `full`: console admins and keys with the `schema` scope. `public`: everyone else. */
export type OpenApiAudience = 'full' | 'public'

/** The collection as a non-admin sees it (no hidden fields), or undefined when every rule is locked. */
export function publicCollection(c: Collection): Collection | undefined {
  if (Object.values(c.rules).every((rule) => rule === null)) return undefined
  return { ...c, fields: c.fields.filter((f) => !f.hidden) }
}

/** Whether a non-admin may attempt `action` at all: a null rule is for admins and keys only. */
export const publicAction = (c: Collection, action: RuleAction): boolean => c.rules[action] !== null

/** Everything under /api/admin/ is the console's API (keys, console admins' auth): never public. */
const CONSOLE_PREFIX = '/api/admin/'

const HTTP_METHODS = new Set(['get', 'put', 'post', 'patch', 'delete', 'head', 'options', 'trace'])

type Obj = Record<string, unknown>

/**
 * `paths` without the console's paths and without the operations named in `adminOnly`; a path item left
 * with no operation is dropped (its shared `parameters` alone describe nothing callable).
 */
export function publicPaths(paths: Obj, adminOnly: ReadonlySet<string>): Obj {
  const out: Obj = {}
  for (const [path, item] of Object.entries(paths)) {
    if (path.startsWith(CONSOLE_PREFIX)) continue
    const kept = Object.entries(item as Obj).filter(
      ([key, op]) => !HTTP_METHODS.has(key) || !adminOnly.has(String((op as Obj).operationId)),
    )
    if (kept.some(([key]) => HTTP_METHODS.has(key))) out[path] = Object.fromEntries(kept)
  }
  return out
}

/** The tags some operation in `paths` uses, in `tags`' order. */
export function usedTags(tags: readonly Obj[], paths: Obj): Obj[] {
  const used = new Set<unknown>()
  for (const item of Object.values(paths)) {
    for (const [key, op] of Object.entries(item as Obj)) {
      if (HTTP_METHODS.has(key)) for (const t of ((op as Obj).tags as unknown[]) ?? []) used.add(t)
    }
  }
  return tags.filter((t) => used.has(t.name))
}

const SCHEMA_REF = /"#\/components\/schemas\/([^"]+)"/g

/**
 * The schemas reachable from `roots` (paths and the other components), following references between
 * schemas: a schema only the left-out operations used would otherwise still describe them.
 */
export function reachableSchemas(schemas: Obj, roots: readonly unknown[]): Obj {
  const kept: Obj = {}
  const pending = roots.map((r) => JSON.stringify(r))
  while (pending.length > 0) {
    const text = pending.pop()!
    for (const [, name] of text.matchAll(SCHEMA_REF)) {
      const key = name!.replace(/~1/g, '/').replace(/~0/g, '~')
      if (Object.hasOwn(kept, key) || !Object.hasOwn(schemas, key)) continue
      kept[key] = schemas[key]
      pending.push(JSON.stringify(schemas[key]))
    }
  }
  // In the order they were declared, like the full document.
  return Object.fromEntries(
    Object.keys(schemas)
      .filter((k) => Object.hasOwn(kept, k))
      .map((k) => [k, kept[k]]),
  )
}
