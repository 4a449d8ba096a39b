/**
 * better-auth's plugins merge their `schema` option (table and column names) into the plugin module's own
 * schema object, which every instance in the process shares: with two instances of one plugin (twoFactor
 * for app users in bastide.auth_two_factors, for console admins in bastide.admin_two_factors), both would
 * use the names of whichever was created last. This gives the plugin a copy of its schema, taken at once.
 */
export function ownSchema<P extends { schema?: unknown }>(plugin: P): P {
  const schema = plugin.schema as Record<string, { fields?: Record<string, object> }> | undefined
  if (!schema) return plugin
  const copy = Object.fromEntries(
    Object.entries(schema).map(([table, def]) => [
      table,
      {
        ...def,
        ...(def.fields
          ? { fields: Object.fromEntries(Object.entries(def.fields).map(([f, v]) => [f, { ...v }])) }
          : {}),
      },
    ]),
  )
  return { ...plugin, schema: copy }
}
