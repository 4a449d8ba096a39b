import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * The CLI where its sources are absent, as `pnpm --filter @bastide/cli deploy --prod` leaves it (bin/, scripts/,
 * dist/, package.json and production node_modules; no src/, no ../sdk-js/src, no esbuild): the prebuilt
 * dist/bastide.js runs as it is, and without one the command says what to do instead of a stack trace.
 */
const CLI = fileURLToPath(new URL('..', import.meta.url))
let install: string

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd: install, env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    )
  })
}

beforeAll(() => {
  install = fs.mkdtempSync(path.join(os.tmpdir(), 'bastide-cli-prebuilt-'))
  // The global setup built dist/ from the workspace's sources.
  for (const entry of ['bin', 'scripts', 'dist', 'package.json'])
    fs.cpSync(path.join(CLI, entry), path.join(install, entry), { recursive: true })
  // commander and socket.io-client stay outside the bundle: the install has them in node_modules.
  fs.symlinkSync(path.join(CLI, 'node_modules'), path.join(install, 'node_modules'), 'dir')
})
afterAll(() => {
  if (install) fs.rmSync(install, { recursive: true, force: true })
})

describe('an install without sources', () => {
  it('runs the prebuilt dist/bastide.js, and never rebuilds it', async () => {
    const bundle = path.join(install, 'dist', 'bastide.js')
    const before = fs.statSync(bundle).mtimeMs
    const version = await run(['bin/bastide.mjs', '--version'])
    expect(version).toMatchObject({ code: 0, stderr: '' })
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
    const help = await run(['bin/bastide', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('serve')
    expect(fs.statSync(bundle).mtimeMs).toBe(before)
  })

  it('without dist/ either: exit 1 and what to do, not a stack trace', async () => {
    fs.renameSync(path.join(install, 'dist'), path.join(install, 'dist.away'))
    try {
      for (const args of [['bin/bastide.mjs', '--help'], ['scripts/build.mjs']]) {
        const r = await run(args)
        expect(r.code, args.join(' ')).toBe(1)
        expect(r.stdout).toBe('')
        expect(r.stderr).toContain('node packages/cli/scripts/build.mjs')
        expect(r.stderr).toContain('pnpm install')
        expect(r.stderr).not.toMatch(/^\s+at /m)
      }
      expect(fs.existsSync(path.join(install, 'dist'))).toBe(false)
    } finally {
      fs.renameSync(path.join(install, 'dist.away'), path.join(install, 'dist'))
    }
  })
})
