/**
 * `pnpm --filter @bastide/sdk size`: the minified + gzipped weight an app pays, measured with esbuild the way
 * an app bundler would build it (ESM, browser platform, tree-shaking, code splitting for the lazy realtime
 * module).
 *
 * - records only: `createClient` + `collection().list()` + `f()`: what loads at startup (socket.io-client is
 *   imported lazily, on the first subscription or channel);
 * - everything: every export used, including the realtime chunk with socket.io-client.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
const entry = path.join(root, 'src/index.ts')

const cases = {
  'records only': `import { createClient, f } from ${JSON.stringify(entry)}
const c = createClient({ url: 'https://api.example.com' })
c.collection('posts').list({ filter: f('a = {:a}', { a: 1 }) }).then(console.log)`,
  everything: `import * as sdk from ${JSON.stringify(entry)}
console.log(sdk)
const c = sdk.createClient({ url: 'https://api.example.com' })
c.collection('posts').subscribe(console.log)`,
}

export interface SizeRow {
  readonly name: string
  /** The entry chunk: what an app loads at startup. */
  readonly startup: { readonly min: number; readonly gzip: number }
  /** Every chunk, lazy ones included. */
  readonly total: { readonly min: number; readonly gzip: number }
}

export async function measure(): Promise<SizeRow[]> {
  const rows: SizeRow[] = []
  for (const [name, contents] of Object.entries(cases)) {
    const outdir = mkdtempSync(path.join(tmpdir(), 'bastide-size-'))
    try {
      const r = await build({
        stdin: { contents, resolveDir: root, loader: 'ts' },
        bundle: true,
        splitting: true,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        minify: true,
        write: false,
        outdir,
        metafile: true,
        absWorkingDir: root,
        logLevel: 'silent',
      })
      let startup = { min: 0, gzip: 0 }
      const total = { min: 0, gzip: 0 }
      for (const file of r.outputFiles) {
        const size = { min: file.contents.byteLength, gzip: gzipSync(file.contents, { level: 9 }).byteLength }
        total.min += size.min
        total.gzip += size.gzip
        const meta = r.metafile.outputs[path.relative(root, file.path)]
        if (meta?.entryPoint) startup = size
      }
      rows.push({ name, startup, total })
    } finally {
      rmSync(outdir, { recursive: true, force: true })
    }
  }
  return rows
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`
  console.log('| import | startup min | startup gzip | all chunks min | all chunks gzip |')
  console.log('|---|---|---|---|---|')
  for (const r of await measure())
    console.log(
      `| ${r.name} | ${kb(r.startup.min)} | ${kb(r.startup.gzip)} | ${kb(r.total.min)} | ${kb(r.total.gzip)} |`,
    )
}
