import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { CliError, EXIT } from './exit-codes.ts'
import { findProject, PROJECT_DIR } from './project.ts'

/**
 * A project's functions as files: `bastide/functions/<name>/index.ts` (or index.js), one folder per function,
 * bundled here with esbuild into the one ES module the server runs.
 */

/** Function names, as the server accepts them. */
export const FUNCTION_NAME = /^[a-z][a-z0-9-]{0,62}$/

/** The module every function imports; the server's sandbox provides it, so it is never bundled. */
export const SDK_FUNCTIONS = '@bastide/sdk/functions'

const ENTRIES = ['index.ts', 'index.mts', 'index.js', 'index.mjs'] as const

/** `--dir` (the project's `bastide/` folder) when given, else the project's, else `./bastide`; then `functions/`. */
export function functionsDir(cwd: string, dir: string | undefined): string {
  const base =
    dir !== undefined ? path.resolve(cwd, dir) : (findProject(cwd)?.dir ?? path.resolve(cwd, PROJECT_DIR))
  return path.join(base, 'functions')
}

/** A function folder found on disk. */
export interface LocalFunction {
  readonly name: string
  /** Its entry file (absolute). */
  readonly entry: string
}

/**
 * The functions under `dir`, by name: every folder holding an index file. Folders starting with `_` or `.` are
 * shared code, not functions (`functions/_lib/`). A folder whose name the server would refuse is an error.
 */
export function findFunctions(dir: string): LocalFunction[] {
  if (!fs.existsSync(dir)) return []
  const found: LocalFunction[] = []
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || /^[_.]/.test(e.name) || e.name === 'node_modules') continue
    const entry = ENTRIES.map((f) => path.join(dir, e.name, f)).find((f) => fs.existsSync(f))
    if (!entry) continue
    if (!FUNCTION_NAME.test(e.name))
      throw new CliError(
        `${path.join(dir, e.name)}: "${e.name}" is not a function name (lowercase letters, digits and -, starting with a letter, at most 63).`,
        EXIT.failed,
        'BAD_FUNCTION_NAME',
      )
    found.push({ name: e.name, entry })
  }
  return found.sort((a, b) => a.name.localeCompare(b.name))
}

/** What `bundleFunction` produces. */
export interface Bundle {
  /** The module to deploy. */
  readonly source: string
  /** sha256 of `source` (UTF-8), hex: what the server records as the version's checksum. */
  readonly checksum: string
  /** Every file it was built from (absolute): a change to any of them changes the function. */
  readonly inputs: readonly string[]
  /** False when the entry imports nothing but `@bastide/sdk/functions`: its source is sent as written. */
  readonly bundled: boolean
}

/** esbuild, loaded on first use: only the functions commands need it. */
async function loadEsbuild(): Promise<typeof import('esbuild')> {
  try {
    return await import('esbuild')
  } catch (err) {
    throw new CliError(
      `Bundling functions needs esbuild, which cannot be loaded here: ${(err as Error).message}`,
      EXIT.failed,
      'NO_BUNDLER',
    )
  }
}

/**
 * Bundles a function: its entry and everything it imports (relative files, npm packages from the project's
 * node_modules) into one ES module (ES2022, platform neutral), `@bastide/sdk/functions` left as an import. An entry
 * that imports nothing else is sent as written (TypeScript included: the server strips types), so the console shows
 * the code as the developer wrote it. Throws CliError (code BUNDLE_FAILED) with esbuild's messages.
 */
export async function bundleFunction(fn: LocalFunction): Promise<Bundle> {
  const { build } = await loadEsbuild()
  const root = path.dirname(path.dirname(fn.entry))
  let result: Awaited<ReturnType<typeof build<{ write: false; metafile: true }>>>
  try {
    result = await build({
      entryPoints: [fn.entry],
      absWorkingDir: root,
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      // Neutral resolves no package fields by default; npm packages still publish "main" or "module".
      // The sandbox has no Node built-ins: prefer packages' browser/worker builds.
      mainFields: ['browser', 'module', 'main'],
      conditions: ['worker', 'browser'],
      external: [SDK_FUNCTIONS],
      outfile: path.join(root, `${fn.name}.js`),
      logLevel: 'silent',
      legalComments: 'inline',
      charset: 'utf8',
    })
  } catch (err) {
    const errors = (
      err as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }
    ).errors
    const message = errors?.length
      ? errors
          .map((e) =>
            e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text,
          )
          .join('\n')
      : (err as Error).message
    throw new CliError(message, EXIT.failed, 'BUNDLE_FAILED')
  }
  const inputs = Object.keys(result.metafile.inputs).map((f) => path.resolve(root, f))
  const text = fs.readFileSync(fn.entry, 'utf8')
  // As written only when the text itself names no other module: esbuild drops imports used only as types, which
  // the sandbox would still see (and refuse). A false match (in a comment) only means bundling.
  const specifiers = [...text.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1])
  const alone = inputs.length === 1 && specifiers.every((p) => p === SDK_FUNCTIONS)
  const source = alone ? text : result.outputFiles[0]!.text
  return {
    source,
    checksum: createHash('sha256').update(source, 'utf8').digest('hex'),
    inputs,
    bundled: !alone,
  }
}
