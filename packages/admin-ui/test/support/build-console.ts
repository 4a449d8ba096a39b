import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'vite'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The console built for this run (its own directory: a dev's dist/ is neither used nor touched). */
    consoleDir: string
  }
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Builds the console once for the run, as `pnpm start` would, into a temporary directory. */
export default async function setup(project: TestProject) {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-console-'))
  await build({
    root: ROOT,
    configFile: path.join(ROOT, 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  })
  project.provide('consoleDir', outDir)
  return () => fs.rmSync(outDir, { recursive: true, force: true })
}
