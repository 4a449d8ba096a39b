// `pnpm build`: dist/ as published, the SDK's ESM and declarations compiled by tsc.
//
// The SDK's sources import `@bastide/protocol` (wire types and error codes), a workspace package that is not
// on the registry: the published SDK carries a compiled copy of it in dist/protocol/, and its imports are
// pointed there, so that the tarball installs with `socket.io-client` as its only dependency.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST = path.join(ROOT, 'dist')
const PROTOCOL_OUT = path.join(DIST, 'protocol')
const PROTOCOL_IMPORT = /(\bfrom\s*|\bimport\s*\(\s*)(['"])@bastide\/protocol\2/g
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

fs.rmSync(DIST, { recursive: true, force: true })
// The protocol first: tsconfig.build.json resolves `@bastide/protocol` to the declarations it leaves here.
compile(path.resolve(ROOT, '../protocol/tsconfig.build.json'), '--outDir', PROTOCOL_OUT)
compile(path.join(ROOT, 'tsconfig.build.json'))

let pointed = 0
for (const entry of fs.readdirSync(DIST, { recursive: true, withFileTypes: true })) {
  const file = path.join(entry.parentPath, entry.name)
  if (!entry.isFile() || file.startsWith(PROTOCOL_OUT + path.sep) || !/\.(js|d\.ts)$/.test(file)) continue
  const text = fs.readFileSync(file, 'utf8')
  const target = specifier(file, path.join(PROTOCOL_OUT, 'index.js'))
  const next = text.replace(PROTOCOL_IMPORT, (_, head, quote) => `${head}${quote}${target}${quote}`)
  if (next === text) continue
  fs.writeFileSync(file, next)
  pointed++
}
if (pointed === 0)
  throw new Error('build: no import of @bastide/protocol found in dist/; is the pattern stale?')

function compile(project, ...args) {
  execFileSync(process.execPath, [tsc, '-p', project, ...args], { cwd: ROOT, stdio: 'inherit' })
}

/** The file `to` as an import specifier in the file `from`. */
function specifier(from, to) {
  const rel = path.relative(path.dirname(from), to).split(path.sep).join('/')
  return rel.startsWith('.') ? rel : `./${rel}`
}
