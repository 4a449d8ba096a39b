import fs from 'node:fs'
import path from 'node:path'
import { signUp } from '@bastide/server/test/support/auth.ts'
import { ADMIN_KEY, startTestServer, type TestServer } from '@bastide/server/test/support/harness.ts'
import { type Mailbox, startMailbox } from '@bastide/server/test/support/mailbox.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, tempDir } from './support/run-cli.ts'

/**
 * The functions issue's "done when", end to end through the real CLI and a real SMTP server: a developer writes
 * `welcome` (mails after sign-up) and `hello` (answers HTTP) from the templates, deploys both with one command,
 * reads their logs, and sees a failing run retried, dead-lettered, then replayed.
 */
let s: TestServer
let mail: Mailbox
let project: string

beforeAll(async () => {
  mail = await startMailbox()
  // SMTP from the runtime settings (not BASTIDE_SMTP_URL, which would lock it): the test takes it away later.
  s = await startTestServer({ listen: true, env: { BASTIDE_MAIL_RECIPIENT_LIMIT: '100' } })
  expect((await smtp(mail.url)).status).toBe(200)
  project = tempDir('bastide-fn-welcome-')
  expect((await runCli(['init', '.'], { cwd: project })).code).toBe(0)
})
afterAll(async () => {
  await s?.close()
  await mail?.close()
  if (project) fs.rmSync(project, { recursive: true, force: true })
})

function smtp(url: string) {
  return s.api('PATCH', '/api/admin/settings', { smtp: { url, from: 'Bastide <app@example.com>' } })
}
const cli = (args: string[]) =>
  runCli(['--url', s.bastide.url, '--key', ADMIN_KEY, ...args], { cwd: project })

describe('functions, done when', () => {
  it('writes welcome and hello, deploys both at once, and shows their runs and logs', async () => {
    expect((await runCli(['functions', 'new', 'welcome', '--trigger', 'auth'], { cwd: project })).code).toBe(
      0,
    )
    expect((await runCli(['functions', 'new', 'hello', '--trigger', 'http'], { cwd: project })).code).toBe(0)
    const welcome = fs.readFileSync(path.join(project, 'bastide', 'functions', 'welcome', 'index.ts'), 'utf8')
    expect(welcome).toContain('ctx.mail.send')

    const deploy = await cli(['functions', 'deploy', '--json'])
    expect(deploy.code, deploy.stderr).toBe(0)
    expect(
      deploy
        .json()
        .results.map((r: any) => [r.name, r.status, r.version, r.triggers])
        .sort(),
    ).toEqual([
      ['hello', 'deployed', 1, ['http']],
      ['welcome', 'deployed', 1, ['auth:after-sign-up']],
    ])

    const hello = await fetch(`${s.bastide.url}/api/functions/hello?name=ada`)
    expect(await hello.json()).toEqual({ hello: 'ada' })

    await signUp(s, 'nina@example.com', { name: 'Nina' })
    const m = await mail.next('nina@example.com', /Welcome aboard/, 30_000)
    expect(m.text.trim()).toBe('Hello Nina, thanks for signing up.')

    await expect
      .poll(async () => (await cli(['functions', 'logs', 'welcome', '--json'])).json().items.length)
      .toBe(1)
    const logs = await cli(['functions', 'logs', 'welcome'])
    expect(logs.stdout).toMatch(/auth\s+ok\b/)
    expect(logs.stdout).toMatch(/info\s+welcomed nina@example\.com/)
    await expect
      .poll(async () => (await cli(['functions', 'logs', 'hello', '--json'])).json().items.length)
      .toBe(1)
    expect((await cli(['functions', 'logs', 'hello'])).stdout).toMatch(/http\s+ok\s+[\d.]+m?s\s+200\s+v1/)
  })

  it('retries a welcome whose mail cannot go, dead-letters it, and a replay delivers it', async () => {
    // Nothing listens on port 1.
    expect((await smtp('smtp://127.0.0.1:1')).status).toBe(200)
    await signUp(s, 'omar@example.com', { name: 'Omar' })
    // The template's retries: 3 — four attempts (2 + 4 + 8 s of backoff), then the dead letter.
    await expect
      .poll(async () => (await cli(['jobs', 'dead', 'functions.welcome', '--json'])).json().items.length, {
        timeout: 60_000,
      })
      .toBe(1)
    const failed = (await cli(['functions', 'logs', 'welcome', '--status', 'error', '--json'])).json().items
    expect(failed.map((i: any) => i.attempt)).toEqual([4, 3, 2, 1])
    expect(failed[0].error).toContain('ctx.mail.send: the mail could not be sent')

    expect((await smtp(mail.url)).status).toBe(200)
    const dead = (await cli(['jobs', 'dead', 'functions.welcome', '--json'])).json()
    const replay = await cli(['jobs', 'replay', dead.queue, dead.items[0].id])
    expect(replay.code, replay.stderr).toBe(0)
    const m = await mail.next('omar@example.com', /Welcome aboard/, 30_000)
    expect(m.text.trim()).toBe('Hello Omar, thanks for signing up.')
  }, 90_000)
})
