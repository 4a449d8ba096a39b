import fs from 'node:fs'
import path from 'node:path'
import { parseEnv } from 'node:util'
import { CliError, EXIT } from './exit-codes.ts'

/** The folder `bastide init` creates inside a project, and the file that marks a project. */
export const PROJECT_DIR = 'bastide'
export const CONFIG_FILE = 'config.json'

/** `bastide/config.json`: what a project says about itself. */
export interface ProjectConfig {
  /** A name for people (the project's folder name by default). */
  readonly name: string
  /** The development server's URL (`bastide serve` in this folder). */
  readonly url?: string
}

/** A project folder (`bastide init`): the folder holding `bastide/config.json`. */
export interface Project {
  /** The project's root folder (absolute). */
  readonly root: string
  /** `root/bastide`: config.json, schema/, migrations/. */
  readonly dir: string
  readonly config: ProjectConfig
}

/**
 * The nearest project at or above `cwd` (the folder holding `bastide/config.json`), or undefined outside any.
 * Throws CliError when the file is there but is not a valid config: a broken project must not be silently skipped
 * for one further up.
 */
export function findProject(cwd: string): Project | undefined {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const file = path.join(dir, PROJECT_DIR, CONFIG_FILE)
    if (fs.existsSync(file)) return { root: dir, dir: path.join(dir, PROJECT_DIR), config: readConfig(file) }
    if (path.dirname(dir) === dir) return undefined
  }
}

function readConfig(file: string): ProjectConfig {
  let parsed: unknown
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new CliError(`${file} is not valid JSON: ${(err as Error).message}`, EXIT.failed, 'BAD_PROJECT')
  }
  const c = parsed as Partial<Record<keyof ProjectConfig, unknown>> | null
  if (
    !c ||
    typeof c !== 'object' ||
    typeof c.name !== 'string' ||
    (c.url !== undefined && typeof c.url !== 'string')
  )
    throw new CliError(
      `${file} must be an object with a "name" string and an optional "url" string.`,
      EXIT.failed,
      'BAD_PROJECT',
    )
  return { name: c.name, ...(c.url !== undefined ? { url: c.url } : {}) }
}

/**
 * The environment the server runs with in a project: the real environment, then the project's `.env` for what the
 * real environment leaves unset (never overriding it), then the project's data folder `.bastide/` when neither sets
 * BASTIDE_DATA_DIR. Outside a project, the real environment as is. A relative BASTIDE_DATA_DIR from `.env` is
 * relative to the project's root, wherever the command runs.
 */
export function projectEnv(project: Project | undefined, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!project) return { ...env }
  const merged: NodeJS.ProcessEnv = { ...env }
  const file = path.join(project.root, '.env')
  let fromFile: Record<string, string> = {}
  if (fs.existsSync(file)) {
    try {
      fromFile = parseEnv(fs.readFileSync(file, 'utf8')) as Record<string, string>
    } catch (err) {
      throw new CliError(`${file} could not be read: ${(err as Error).message}`, EXIT.failed, 'BAD_PROJECT')
    }
  }
  for (const [k, v] of Object.entries(fromFile)) if (merged[k] === undefined) merged[k] = v
  if (merged.BASTIDE_DATA_DIR === undefined) merged.BASTIDE_DATA_DIR = path.join(project.root, '.bastide')
  else if (env.BASTIDE_DATA_DIR === undefined)
    merged.BASTIDE_DATA_DIR = path.resolve(project.root, merged.BASTIDE_DATA_DIR)
  return merged
}
