// Builds the server to JavaScript in dist/ (what `pnpm start` runs), so that no start compiles TypeScript.
//
//   node scripts/build.mjs          build now
//   import { ensureBuilt } ...      build only when the sources changed since the last build
//
// Each file is transpiled on its own (as tsx does in development), with the options of tsconfig.build.json:
// relative `./x.ts` imports become `./x.js`. Type checking is `pnpm typecheck`'s job, not the build's. Files
// of src/ that are not TypeScript (the account page, the API docs' script) are copied beside the output, so
// that `new URL('…', import.meta.url)` finds them from dist/ as it does from src/. The build is written to a
// temporary directory and renamed into place: a start never sees half of one.
//
// `@bastide/protocol` is a workspace package consumed as TypeScript source (tsx, vitest and tsc read it as is),
// which Node cannot load: the build transpiles it into dist/protocol/ and points the server's imports there.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SRC = path.join(ROOT, 'src')
const DIST = path.join(ROOT, 'dist')
const PROTOCOL = path.resolve(ROOT, '../protocol')
/** Where the protocol's JavaScript goes in dist/, and the specifier that is pointed there. */
const PROTOCOL_OUT = 'protocol'
const PROTOCOL_IMPORT = /(\bfrom\s*|\bimport\s*\(\s*)(['"])@bastide\/protocol\2/g
const STAMP = '.build-stamp'
/** What the output depends on besides the sources. */
const INPUTS = [
  'tsconfig.json',
  'tsconfig.build.json',
  'scripts/build.mjs',
  'package.json',
  '../protocol/package.json',
]

/** A digest of every input's path, size and modification time: it changes when any of them does. */
export function fingerprint() {
  const hash = createHash('sha256')
  const files = [SRC, path.join(PROTOCOL, 'src')]
    .flatMap((dir) => fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort()
  for (const file of [...files, ...INPUTS.map((f) => path.join(ROOT, f))]) {
    const st = fs.statSync(file)
    hash.update(`${path.relative(ROOT, file)}\0${st.size}\0${st.mtimeMs}\n`)
  }
  return hash.digest('hex')
}

/** Whether dist/ holds the build of the current sources. */
export function isFresh(print = fingerprint()) {
  try {
    return fs.readFileSync(path.join(DIST, STAMP), 'utf8') === print
  } catch {
    return false
  }
}

/** Builds dist/ from src/. */
export async function build() {
  const print = fingerprint()
  const { default: ts } = await import('typescript')
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(ROOT, 'tsconfig.build.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => fail(ts, d) },
  )
  if (!parsed) throw new Error('tsconfig.build.json could not be read')
  if (parsed.errors.length > 0) fail(ts, parsed.errors[0])
  // Beside dist/ on the same filesystem (for the rename), where neither git nor the linter looks.
  const tmp = path.join(ROOT, 'node_modules', '.cache', `bastide-build-${process.pid}`)
  fs.rmSync(tmp, { recursive: true, force: true })
  try {
    transpile(ts, parsed, tmp)
    fs.writeFileSync(path.join(tmp, STAMP), print)
    fs.rmSync(DIST, { recursive: true, force: true })
    fs.renameSync(tmp, DIST)
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true })
    // Another start built it at the same moment: theirs is as good as ours.
    if (!isFresh(print)) throw err
  }
}

/** Every source file of src/ transpiled into `out`, every other file copied there. */
function transpile(ts, parsed, out) {
  // Every file is an ES module (package.json says "type": "module"), which a file transpiled on its own
  // cannot learn under NodeNext: say so.
  const options = {
    ...parsed.options,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
  }
  const sources = new Set(parsed.fileNames.map((f) => path.resolve(f)))
  if (fs.existsSync(path.join(SRC, PROTOCOL_OUT))) throw new Error(`build: src/${PROTOCOL_OUT} would collide`)
  for (const entry of fs.readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const file = path.join(entry.parentPath, entry.name)
    const rel = path.relative(SRC, file)
    if (file.endsWith('.ts')) {
      if (!sources.has(file)) continue
      const js = path.join(out, rel.replace(/\.ts$/, '.js'))
      const protocol = specifier(js, path.join(out, PROTOCOL_OUT, 'index.js'))
      write(js, transpileFile(ts, file, options).replace(PROTOCOL_IMPORT, `$1$2${protocol}$2`))
    } else {
      write(path.join(out, rel), fs.readFileSync(file))
    }
  }
  const protocolSrc = path.join(PROTOCOL, 'src')
  for (const entry of fs.readdirSync(protocolSrc, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue
    const file = path.join(entry.parentPath, entry.name)
    const rel = path.relative(protocolSrc, file).replace(/\.ts$/, '.js')
    write(path.join(out, PROTOCOL_OUT, rel), transpileFile(ts, file, { ...options, rootDir: protocolSrc }))
  }
}

/** The file `to` as an import specifier in the file `from`. */
function specifier(from, to) {
  const rel = path.relative(path.dirname(from), to).split(path.sep).join('/')
  return rel.startsWith('.') ? rel : `./${rel}`
}

/** One TypeScript file as JavaScript. */
function transpileFile(ts, file, compilerOptions) {
  const result = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
    fileName: file,
    compilerOptions,
    reportDiagnostics: true,
  })
  if (result.diagnostics?.length) fail(ts, result.diagnostics[0])
  return result.outputText
}

/**
 * Builds dist/ unless it already holds the current sources; says so on stderr when it builds. A production
 * install (`pnpm deploy --prod`: no protocol sources, no typescript) runs the dist/ it was deployed with.
 */
export async function ensureBuilt() {
  if (!fs.existsSync(path.join(PROTOCOL, 'src')) || !fs.existsSync(SRC)) {
    if (fs.existsSync(path.join(DIST, 'main.js'))) return
    throw new Error(
      'build: dist/ is missing and this install has no sources to build it from: run `node packages/server/scripts/build.mjs` in the workspace before `pnpm deploy`.',
    )
  }
  if (isFresh()) return
  const t0 = performance.now()
  process.stderr.write('Building the server (once, until the sources change)... ')
  await build()
  process.stderr.write(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
}

function fail(ts, diagnostic) {
  const where = diagnostic.file
    ? `${path.relative(ROOT, diagnostic.file.fileName)}:${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1}: `
    : ''
  throw new Error(`build: ${where}${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`)
}

function write(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, data)
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await build()
