// Builds the console into dist/ (what the server serves at /_/).
//
//   node scripts/build.mjs          build now
//   import { ensureBuilt } ...      build only when the sources changed since the last build (`pnpm start`)
//
// The SDK and the protocol are bundled from their TypeScript sources, so they count as sources here too.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST = path.join(ROOT, 'dist')
const STAMP = path.join(ROOT, 'node_modules', '.console-build-stamp')
const DIRS = ['src', '../sdk-js/src', '../protocol/src']
const FILES = ['index.html', 'vite.config.ts', 'package.json', 'scripts/build.mjs']

export function fingerprint() {
  const hash = createHash('sha256')
  const files = DIRS.flatMap((d) =>
    fs
      .readdirSync(path.join(ROOT, d), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name)),
  )
    .concat(FILES.map((f) => path.join(ROOT, f)))
    .sort()
  for (const file of files) {
    const st = fs.statSync(file)
    hash.update(`${path.relative(ROOT, file)}\0${st.size}\0${st.mtimeMs}\n`)
  }
  return hash.digest('hex')
}

export async function build({ quiet = false } = {}) {
  const vite = await import(pathToFileURL(path.join(ROOT, 'node_modules/vite/dist/node/index.js')).href)
  await vite.build({
    root: ROOT,
    configFile: path.join(ROOT, 'vite.config.ts'),
    logLevel: quiet ? 'warn' : 'info',
  })
}

/** Builds when dist/ is missing or older than the sources; returns whether it built. */
export async function ensureBuilt() {
  const print = fingerprint()
  let stamp = ''
  try {
    stamp = fs.readFileSync(STAMP, 'utf8')
  } catch {}
  if (stamp === print && fs.existsSync(path.join(DIST, 'index.html'))) return false
  const t0 = Date.now()
  process.stderr.write('Building the console (packages/admin-ui)…\n')
  await build({ quiet: true })
  fs.writeFileSync(STAMP, print)
  process.stderr.write(`Console built in ${((Date.now() - t0) / 1000).toFixed(1)} s.\n`)
  return true
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await build()
  fs.writeFileSync(STAMP, fingerprint())
}
