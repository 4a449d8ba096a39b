import { describe, expect, it } from 'vitest'
import { runCli } from './support/run-cli.ts'

describe('bastide', () => {
  it('prints its usage and exit statuses with --help, exit 0', async () => {
    const run = await runCli(['--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('Usage: bastide')
    expect(run.stdout).toContain('Exit status')
  })

  it('exits 2 on an unknown option or command, naming it', async () => {
    const bad = await runCli(['--no-such-flag'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("unknown option '--no-such-flag'")
    const unknown = await runCli(['frobnicate'])
    expect(unknown.code).toBe(2)
  })
})
