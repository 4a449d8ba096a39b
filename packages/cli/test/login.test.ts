import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import {
  ADMIN_KEY,
  createKey,
  startTestServer,
  type TestServer,
} from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, tempDir } from './support/run-cli.ts'

let s: TestServer
let url: string

beforeAll(async () => {
  s = await startTestServer({ listen: true })
  url = s.bastide.url
})
afterAll(async () => {
  await s?.close()
})

/** A HOME shared by the runs of one test, so that profiles saved by one run are read by the next. */
function home() {
  const dir = tempDir('bastide-cli-home-')
  return { HOME: dir, XDG_CONFIG_HOME: path.join(dir, '.config') }
}

describe('bastide login', () => {
  it('checks the admin key, saves it as the default profile (0600), and later commands use it', async () => {
    const env = home()
    const run = await runCli(['login', '--url', url, '--key', ADMIN_KEY, '--json'], { env })
    expect(run.code, run.stderr).toBe(0)
    const file = path.join(env.XDG_CONFIG_HOME, 'bastide', 'profiles.json')
    expect(run.json()).toEqual({
      profile: 'default',
      url,
      default: true,
      file,
      key: { prefix: `${ADMIN_KEY.slice(0, 12)}…`, kind: 'admin' },
    })
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).profiles.default).toEqual({ url, key: ADMIN_KEY })
    // No --url/--key: the default profile.
    const keys = await runCli(['keys', 'list', '--json'], { env })
    expect(keys.code, keys.stderr).toBe(0)
    expect(keys.json().items).toBeInstanceOf(Array)
  })

  it('never sends a saved key to another server named by --url or BASTIDE_URL (exit 3)', async () => {
    const env = home()
    expect((await runCli(['login', '--url', url, '--key', ADMIN_KEY], { env })).code).toBe(0)
    const seen: (string | undefined)[] = []
    const other = http.createServer((req, res) => {
      seen.push(req.headers.authorization)
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[]}')
    })
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r))
    const otherUrl = `http://127.0.0.1:${(other.address() as { port: number }).port}`
    try {
      const byFlag = await runCli(['keys', 'list', '--url', otherUrl, '--json'], { env })
      expect(byFlag.code, byFlag.stdout).toBe(3)
      expect(byFlag.json().error.code).toBe('KEY_FOR_ANOTHER_SERVER')
      const byEnv = await runCli(['keys', 'list'], { env: { ...env, BASTIDE_URL: otherUrl } })
      expect(byEnv.code).toBe(3)
      expect(seen).toEqual([])
      // With a key of its own for that server, it goes there (and only that key).
      const own = await runCli(
        ['keys', 'list', '--url', otherUrl, '--key', 'bst_sk_other_server_key_0123456789abcdef'],
        { env },
      )
      expect(own.code, own.stderr).toBe(0)
      expect(seen).toEqual(['Bearer bst_sk_other_server_key_0123456789abcdef'])
    } finally {
      other.close()
    }
  })

  it("names a key's scopes when the key may list keys, and accepts a key without saying them otherwise", async () => {
    const env = home()
    const keysKey = await createKey(s, ['keys', 'schema'])
    const a = await runCli(['login', '--url', url, '--key', keysKey, '--profile', 'ops'], { env })
    expect(a.code, a.stderr).toBe(0)
    expect(a.stdout).toContain('Logged in to')
    expect(a.stdout).toContain('profile ops (default)')
    expect(a.stdout).toContain('keys, schema')

    // The key from stdin (out of the shell's history), as a second, non-default profile.
    const readKey = await createKey(s, ['records:read'])
    const b = await runCli(['login', '--url', url, '--key', '-', '--profile', 'reader', '--json'], {
      env,
      input: `${readKey}\n`,
    })
    expect(b.code, b.stderr).toBe(0)
    expect(b.json()).toMatchObject({ profile: 'reader', default: false, key: { kind: 'unknown' } })

    // Inside a project, --url defaults to its development server.
    const root = tempDir()
    expect((await runCli(['init', '--url', url], { cwd: root })).code).toBe(0)
    const c = await runCli(['login', '--key', readKey, '--profile', 'local', '--json'], { env, cwd: root })
    expect(c.code, c.stderr).toBe(0)
    expect(c.json()).toMatchObject({ profile: 'local', url })

    const keysRun = await runCli(['login', '--url', url, '--key', keysKey, '--profile', 'ops', '--json'], {
      env,
    })
    expect(keysRun.json().key).toMatchObject({ kind: 'key', scopes: ['keys', 'schema'] })
  })

  it('lists profiles with keys masked and the default marked; logout removes one', async () => {
    const env = home()
    const other = await createKey(s, ['keys'])
    expect((await runCli(['login', '--url', url, '--key', ADMIN_KEY], { env })).code).toBe(0)
    expect(
      (await runCli(['login', '--url', url, '--key', other, '--profile', 'second', '--default'], { env }))
        .code,
    ).toBe(0)

    const text = await runCli(['profiles'], { env })
    expect(text.code).toBe(0)
    expect(text.stdout).not.toContain(ADMIN_KEY)
    expect(text.stdout).not.toContain(other)
    expect(text.stdout).toMatch(/\*\s+second/)

    const json = (await runCli(['profiles', '--json'], { env })).json()
    expect(json.profiles).toEqual([
      { name: 'default', url, key: `${ADMIN_KEY.slice(0, 12)}…`, default: false },
      { name: 'second', url, key: `${other.slice(0, 12)}…`, default: true },
    ])

    const out = await runCli(['logout', '--json'], { env })
    expect(out.code).toBe(0)
    expect(out.json()).toEqual({ removed: 'second', default: 'default' })
    expect((await runCli(['logout', '--profile', 'nope'], { env })).code).toBe(1)
  })

  it('exits 3 for a refused key or an unreachable server, saving nothing; 2 without --url/--key', async () => {
    const env = home()
    const refused = await runCli(
      ['login', '--url', url, '--key', 'bst_sk_not_a_real_key_0123456789abcdef', '--json'],
      {
        env,
      },
    )
    expect(refused.code).toBe(3)
    expect(refused.json().error.code).toBe('UNAUTHORIZED')
    const down = await runCli(['login', '--url', 'http://127.0.0.1:1', '--key', ADMIN_KEY], { env })
    expect(down.code).toBe(3)
    expect(fs.existsSync(path.join(env.XDG_CONFIG_HOME, 'bastide', 'profiles.json'))).toBe(false)

    expect((await runCli(['login', '--url', url], { env })).code).toBe(2)
    expect((await runCli(['login', '--url', url, '--key', 'not-a-key'], { env })).code).toBe(2)
    // Nothing saved: commands that need a server say how to configure one.
    const none = await runCli(['keys', 'list'], { env })
    expect(none.code).toBe(3)
    expect(none.stderr).toContain('bastide login')
    expect((await runCli(['--profile', 'ghost', 'keys', 'list'], { env })).code).toBe(3)
  })
})
