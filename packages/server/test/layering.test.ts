import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, expect, it } from 'vitest'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../../../', import.meta.url))
const dir = mkdtempSync(path.join(tmpdir(), 'bastide-layering-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Lints files laid out like the repository, under the repository's biome.json; the findings by file. */
async function lint(files: Record<string, string>): Promise<{ code: number; output: string }> {
  copyFileSync(path.join(root, 'biome.json'), path.join(dir, 'biome.json'))
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    writeFileSync(path.join(dir, name), text)
  }
  const biome = path.join(root, 'node_modules/.bin/biome')
  try {
    const r = await run(biome, ['lint', '--max-diagnostics=50', ...Object.keys(files)], { cwd: dir })
    return { code: 0, output: r.stdout + r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, output: e.stdout + e.stderr }
  }
}

it('keeps core/ free of hono, socket.io, http/ and realtime/ (lint fails on a deliberate import)', async () => {
  const bad = await lint({
    'packages/server/src/core/records/probe.ts': `import { Hono } from 'hono'
import type { Server } from 'socket.io'
import type { AppEnv } from '../../http/context.ts'
import type { Realtime } from '../../realtime/gateway.ts'
export type Probe = [Hono<AppEnv>, Server, Realtime]
`,
  })
  expect(bad.code).not.toBe(0)
  expect(bad.output.match(/noRestrictedImports/g)?.length).toBe(4)

  // The same imports are fine where they belong.
  const good = await lint({
    'packages/server/src/http/routes/probe.ts': `import { Hono } from 'hono'
import type { AppEnv } from '../context.ts'
export const probe = new Hono<AppEnv>()
`,
  })
  expect(good.output).not.toContain('noRestrictedImports')
})
