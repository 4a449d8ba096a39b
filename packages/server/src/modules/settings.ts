import { ConfigError } from '../config/load-config.ts'
import type { ModuleDefinition } from './define-module.ts'

/**
 * Every module's settings, parsed from the `BASTIDE_*` variables by its `config` schema (empty strings
 * count as unset, as in loadConfig). Throws one ConfigError listing every bad variable of every module.
 */
export function readSettings(
  modules: readonly ModuleDefinition<any>[],
  env: Readonly<Record<string, string>>,
): ReadonlyMap<string, unknown> {
  const settings = new Map<string, unknown>()
  const problems: { variable: string; message: string }[] = []
  for (const m of modules) {
    if (!m.config) {
      settings.set(m.id, Object.freeze({}))
      continue
    }
    const input: Record<string, string> = {}
    for (const key of Object.keys(m.config.shape)) if (env[key] !== undefined) input[key] = env[key]
    const parsed = m.config.safeParse(input)
    if (parsed.success) settings.set(m.id, Object.freeze(parsed.data))
    else
      for (const i of parsed.error.issues)
        problems.push({ variable: String(i.path[0] ?? '?'), message: i.message })
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return settings
}
