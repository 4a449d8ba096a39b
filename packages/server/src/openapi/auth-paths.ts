/** A piece of the OpenAPI document generated elsewhere (better-auth's endpoints), merged in as is. */
export interface OpenApiPart {
  readonly paths: Record<string, unknown>
  readonly schemas: Record<string, unknown>
  readonly tags: readonly Record<string, unknown>[]
  /** operationIds only console admins and keys with the `schema` scope may call: not in the public document. */
  readonly adminOnly?: readonly string[]
}

/** What better-auth's openAPI plugin adds to an instance's server-side API. */
export interface WithOpenApiGenerator {
  readonly api: { generateOpenAPISchema(): Promise<unknown> }
}

/**
 * better-auth's own description of an instance's endpoints (every enabled plugin's included), moved under
 * the instance's mount point. Its schema names (User, Session...) get a prefix so that two instances and
 * our record schemas never collide, and its operations one tag.
 */
export async function authOpenApi(
  auth: WithOpenApiGenerator,
  o: { prefix: string; tag: string; description: string; namePrefix: string },
): Promise<OpenApiPart> {
  const generated = (await auth.api.generateOpenAPISchema()) as {
    paths?: Record<string, Record<string, Record<string, unknown>>>
    components?: { schemas?: Record<string, unknown> }
  }
  const rename = (value: unknown): unknown =>
    JSON.parse(
      JSON.stringify(value).replace(
        /"#\/components\/schemas\/([A-Za-z0-9_.-]+)"/g,
        (_, name) => `"#/components/schemas/${o.namePrefix}${name}"`,
      ),
    )
  const lowerPrefix = o.namePrefix.charAt(0).toLowerCase() + o.namePrefix.slice(1)
  const paths: Record<string, unknown> = {}
  for (const [path, item] of Object.entries(generated.paths ?? {})) {
    const ops: Record<string, unknown> = {}
    for (const [method, op] of Object.entries(item)) {
      // Plugins leave some operations unnamed; client generators want a name for each.
      const id = typeof op.operationId === 'string' ? op.operationId : camel(`${method} ${path}`)
      ops[method] = {
        ...(rename(op) as Record<string, unknown>),
        tags: [o.tag],
        // operationIds are unique across the whole document: two instances share better-auth's names.
        operationId: `${lowerPrefix}${id.charAt(0).toUpperCase()}${id.slice(1)}`,
      }
    }
    paths[`${o.prefix}${path}`] = ops
  }
  const schemas: Record<string, unknown> = {}
  for (const [name, schema] of Object.entries(generated.components?.schemas ?? {})) {
    schemas[`${o.namePrefix}${name}`] = rename(schema)
  }
  return { paths, schemas, tags: [{ name: o.tag, description: o.description }] }
}

const camel = (words: string): string =>
  words
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w, i) => (i === 0 ? w.toLowerCase() : w.charAt(0).toUpperCase() + w.slice(1)))
    .join('')
