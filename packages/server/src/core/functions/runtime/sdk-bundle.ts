import fs from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * A bundle made ahead of time beside this file, used when present (the Docker image's build writes it into dist/;
 * not `sdk-bundle.js`, which in dist/ is this module itself).
 */
const PREBUILT = new URL('./sdk-bundle.iife.js', import.meta.url)
/** The SDK's sources in the workspace, bundled at first use otherwise (`src/` and `dist/` sit at the same depth). */
const SDK_ENTRY = new URL('../../../../../sdk-js/src/index.ts', import.meta.url)

let bundle: Promise<string> | undefined

/**
 * `@bastide/sdk` as one script with no imports (defining `__bastideSdk`), for `ctx.client` inside the sandbox (which can import
 * nothing from disk). Made once per process.
 */
export function sdkBundle(): Promise<string> {
  bundle ??= load().catch((err) => {
    bundle = undefined
    throw err
  })
  return bundle
}

async function load(): Promise<string> {
  if (fs.existsSync(PREBUILT)) return fs.readFileSync(PREBUILT, 'utf8')
  return buildSdkBundle()
}

/** Bundles the SDK from the workspace's sources with esbuild; `outFile` also writes it there. */
export async function buildSdkBundle(outFile?: string): Promise<string> {
  const entry = fileURLToPath(SDK_ENTRY)
  if (!fs.existsSync(entry))
    throw new Error(`functions: the SDK bundle for ctx.client is missing (no ${fileURLToPath(PREBUILT)})`)
  const esbuild = await import('esbuild')
  const r = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    // A script evaluated with `new Function` (see runner.js): V8 compiles it in a few ms, where importing it as
    // a module through Deno's loader costs ~100 ms per sandbox.
    format: 'iife',
    globalName: '__bastideSdk',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  })
  const code = r.outputFiles[0]!.text
  if (outFile) fs.writeFileSync(outFile, code)
  return code
}
