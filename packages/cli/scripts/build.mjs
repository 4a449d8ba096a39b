// Builds the CLI into one file, dist/bastide.js, with esbuild: src/ plus the SDK's and the protocol's TypeScript
// sources (workspace packages, bundled so that the CLI never depends on their builds); every other import
// (commander, socket.io-client, node:*) stays external. The server is not bundled: commands that run it or its
// engines (serve, admin create, backups) load its own build at run time (src/lib/server.ts).
//
//   node scripts/build.mjs     build now
//   import { ensureBuilt }     build only when an input changed since the last build
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

export async function build() {
  const print = fingerprint()
  const { build: esbuild } = await import('esbuild')
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

/** Builds dist/ unless it holds the current sources. */
export async function ensureBuilt() {
  if (isFresh()) return
  await build()
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await build()
