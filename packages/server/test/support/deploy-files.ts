import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'

/** The repository's docker/ directory: compose files, the Dockerfile, the Caddyfile and kubernetes/. */
export const DOCKER_DIR = fileURLToPath(new URL('../../../../docker/', import.meta.url))
export const KUBERNETES_DIR = path.join(DOCKER_DIR, 'kubernetes')

export interface RunResult {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a tool the deployment checks need from Debian (docker-compose, caddy). Missing, it fails with the
 * command that installs it, never skips: a check that silently does not run proves nothing.
 */
export function runTool(
  tool: 'docker-compose' | 'caddy',
  args: readonly string[],
  env: Record<string, string> = {},
): RunResult {
  const r = spawnSync(tool, args, {
    cwd: DOCKER_DIR,
    encoding: 'utf8',
    // Only what is given: a variable of the machine running the tests must not fill a compose placeholder.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    timeout: 60_000,
  })
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')
    throw new Error(
      `${tool} is not installed: apt-get install ${tool} (Debian's package; .ci/run installs it)`,
    )
  if (r.error) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/**
 * `docker-compose config` of the given files with the given .env contents and compose profiles enabled,
 * parsed; throws with its message.
 */
export function composeConfig(
  files: readonly string[],
  env: Record<string, string>,
  dir: string,
  profiles: readonly string[] = [],
): any {
  const r = composeConfigRaw(files, env, dir, profiles)
  if (r.status !== 0) throw new Error(`docker-compose config failed:\n${r.stderr}`)
  return parse(r.stdout)
}

let envFiles = 0

/** The same, unparsed: for the checks that expect it to fail. `dir` receives the .env file. */
export function composeConfigRaw(
  files: readonly string[],
  env: Record<string, string>,
  dir: string,
  profiles: readonly string[] = [],
): RunResult {
  const envFile = path.join(dir, `compose-${++envFiles}.env`)
  fs.writeFileSync(
    envFile,
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  )
  return runTool('docker-compose', [
    '--env-file',
    envFile,
    ...files.flatMap((f) => ['-f', f]),
    ...profiles.flatMap((p) => ['--profile', p]),
    'config',
  ])
}

/**
 * A compose service's bind mounts and volumes as { source, target }, whichever syntax `config` printed
 * (docker-compose 1 keeps `source:target[:mode]` strings; Compose 2 writes objects).
 */
export function mounts(service: any): { source: string; target: string }[] {
  return (service.volumes ?? []).map((v: any) => {
    if (typeof v !== 'string') return { source: String(v.source), target: String(v.target) }
    const [source = '', target = ''] = v.split(':')
    return { source, target }
  })
}

/** Every `${NAME…}` a compose file or the Caddyfile reads from the environment (`$$` escapes excluded). */
export function referencedVariables(text: string): Set<string> {
  const names = new Set<string>()
  for (const m of text.matchAll(/(?<!\$)\$\{([A-Z_][A-Z0-9_]*)/g)) names.add(m[1]!)
  for (const m of text.matchAll(/\{\$([A-Z_][A-Z0-9_]*)\}/g)) names.add(m[1]!)
  return names
}

/** The names an env file sets or documents in a comment (`# NAME=…`). */
export function documentedVariables(text: string): Set<string> {
  return new Set([...text.matchAll(/^#?\s*([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]!))
}

export interface Manifest {
  readonly file: string
  readonly object: any
}

/** Every object of every YAML file in docker/kubernetes/, kustomization.yaml aside. */
export function loadManifests(): readonly Manifest[] {
  return fs
    .readdirSync(KUBERNETES_DIR)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .sort()
    .flatMap((file) =>
      parseAllDocuments(fs.readFileSync(path.join(KUBERNETES_DIR, file), 'utf8')).map((d) => {
        if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`)
        return { file, object: d.toJS() }
      }),
    )
}

/**
 * Validates a manifest against the Kubernetes OpenAPI schema of its apiVersion and kind (kubernetes-models
 * ships them compiled). Resolves to the problems found, none when valid.
 */
export async function schemaProblems(object: { apiVersion?: string; kind?: string }): Promise<string[]> {
  const { apiVersion, kind } = object
  if (!apiVersion || !kind || !/^[a-z0-9.]+(\/[a-z0-9]+)?$/.test(apiVersion) || !/^[A-Za-z]+$/.test(kind))
    return [`not a Kubernetes object: apiVersion ${apiVersion}, kind ${kind}`]
  let Model: (new (data: unknown) => { validate(): void }) | undefined
  try {
    Model = (await import(`kubernetes-models/${apiVersion}/${kind}`))[kind]
  } catch {
    return [`no schema for ${apiVersion} ${kind}`]
  }
  if (!Model) return [`no schema for ${apiVersion} ${kind}`]
  try {
    new Model(object).validate()
    return []
  } catch (err) {
    return [(err as Error).message]
  }
}
