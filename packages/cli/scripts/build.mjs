// Builds the CLI into one file, dist/bastide.js, with esbuild: src/ plus the SDK's and the protocol's TypeScript
// sources (workspace packages, bundled so that the CLI never depends on their builds); every other import
// (commander, socket.io-client, node:*) stays external. The server is not bundled: commands that run it or its
// engines (serve, admin create, backups) load its own build at run time (src/lib/server.ts).
//
//   node scripts/build.mjs     build now
//   import { ensureBuilt }     build only when an input changed since the last build
//
// A production install (`pnpm --filter @bastide/cli deploy --prod`, the Docker image) has dist/ but neither the
// SDK's and protocol's sources nor esbuild: there the build that is present is run as it is, never rebuilt, so
// build dist/ before deploying (docs/cli.md).
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST = path.join(ROOT, 'dist')
const STAMP = path.join(DIST, '.build-stamp')
const SOURCES = ['src', '../sdk-js/src', '../protocol/src'].map((d) => path.join(ROOT, d))
const INPUTS = ['package.json', 'scripts/build.mjs'].map((f) => path.join(ROOT, f))

/** A digest of every input's path, size and modification time. */
export function fingerprint() {
  const hash = createHash('sha256')
  const files = SOURCES.flatMap((dir) => fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && !e.name.endsWith('.test.ts'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort()
  for (const file of [...files, ...INPUTS]) {
    const st = fs.statSync(file)
    hash.update(`${path.relative(ROOT, file)}\0${st.size}\0${st.mtimeMs}\n`)
  }
  return hash.digest('hex')
}

export function isFresh(print = fingerprint()) {
  try {
    return fs.readFileSync(STAMP, 'utf8') === print
  } catch {
    return false
  }
}

/** Whether this tree holds what the CLI is built from (a checkout of the workspace), not only a build of it. */
export function hasSources() {
  return SOURCES.every((dir) => fs.existsSync(dir))
}

/** esbuild, or undefined where it is not installed (a production install: it is a devDependency). */
async function loadEsbuild() {
  try {
    return await import('esbuild')
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes("'esbuild'")) return undefined
    throw err
  }
}

/** An expected failure: bin/bastide.mjs prints its message alone, without a stack. */
function unbuildable(why) {
  return Object.assign(
    new Error(
      `${why}\n  In a checkout of the repository: run \`pnpm install\` (it installs esbuild), then any bastide command builds the CLI.` +
        `\n  For a production install or an image: run \`node packages/cli/scripts/build.mjs\` in the workspace before \`pnpm --filter @bastide/cli deploy --prod <dir>\`.`,
    ),
    { code: 'BASTIDE_CLI_UNBUILT' },
  )
}

export async function build() {
  if (!hasSources())
    throw unbuildable(`bastide: cannot build the CLI here: ${missingSources().join(', ')} missing.`)
  const print = fingerprint()
  const loaded = await loadEsbuild()
  if (!loaded) throw unbuildable('bastide: cannot build the CLI here: esbuild is not installed.')
  const { build: esbuild } = loaded
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const external = Object.keys(pkg.dependencies ?? {}).filter((d) => !d.startsWith('@bastide/'))
  // Written beside dist/ and renamed into place: a run never sees half a build, and two first runs at once
  // (tests in parallel) both end with a whole one.
  const tmp = path.join(ROOT, 'node_modules', '.cache', `bastide-cli-build-${process.pid}`)
  fs.rmSync(tmp, { recursive: true, force: true })
  try {
    await esbuild({
      entryPoints: [path.join(ROOT, 'src/main.ts')],
      outfile: path.join(tmp, 'bastide.js'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20.19',
      external,
      alias: {
        '@bastide/sdk': path.join(ROOT, '../sdk-js/src/index.ts'),
        '@bastide/protocol': path.join(ROOT, '../protocol/src/index.ts'),
      },
      logLevel: 'error',
      legalComments: 'none',
    })
    fs.writeFileSync(path.join(tmp, '.build-stamp'), print)
    fs.rmSync(DIST, { recursive: true, force: true })
    fs.renameSync(tmp, DIST)
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true })
    if (!isFresh(print)) throw err
  }
}

/** The source folders this tree lacks, relative to the package. */
function missingSources() {
  return SOURCES.filter((dir) => !fs.existsSync(dir)).map((dir) => path.relative(ROOT, dir))
}

/**
 * Builds dist/ unless it holds the current sources. Where the sources or esbuild are absent (a production
 * install), the build present is the one to run: it is never rebuilt there, and its absence is an error that
 * says what to do.
 */
export async function ensureBuilt() {
  const built = fs.existsSync(path.join(DIST, 'bastide.js'))
  if (!hasSources()) {
    if (built) return
    throw unbuildable(
      `bastide: dist/bastide.js is missing, and this install has no sources to build it from (${missingSources().join(', ')}).`,
    )
  }
  if (isFresh()) return
  if (built && !(await loadEsbuild())) {
    // The workspace installed without devDependencies: running the previous build beats refusing to run.
    process.stderr.write(
      'bastide: the sources changed since dist/ was built, but esbuild is not installed: running that build.\n',
    )
    return
  }
  await build()
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await build()
  } catch (err) {
    if (err?.code !== 'BASTIDE_CLI_UNBUILT') throw err
    process.stderr.write(`${err.message}\n`)
    process.exitCode = 1
  }
}
