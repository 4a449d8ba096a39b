import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { spawnCli } from './support/cli-a.ts'
import { runCli, tempDir } from './support/run-cli.ts'

/**
 * `bastide functions` and `bastide jobs` without a Bastide server: scaffolding (the templates typecheck against
 * @bastide/sdk/functions), bundling with esbuild, argument checks and exit codes, and the requests the commands send,
 * as a real HTTP server on a loopback port receives them. That server keeps what was deployed (name → versions)
 * so that the "unchanged" check and rollback read back what they wrote; the real API's behaviour is tested in
 * functions.test.ts against a real Bastide.
 */

const KEY = `bst_sk_${'f'.repeat(32)}`
const pkg = fileURLToPath(new URL('..', import.meta.url))
const sdkFunctions = fileURLToPath(new URL('../../sdk-js/src/functions.ts', import.meta.url))
const protocol = fileURLToPath(new URL('../../protocol/src/index.ts', import.meta.url))

interface Seen {
  readonly method: string
  readonly url: string
  readonly auth: string | undefined
  readonly body: any
}
interface Deployed {
  versions: { version: number; source: string; checksum: string }[]
  active: number
  secrets: Map<string, string>
}

let server: Server
let url: string
const seen: Seen[] = []
const deployed = new Map<string, Deployed>()
/** Answers FUNCTION_INVALID to a PUT whose source contains this. */
const REFUSE = 'REFUSE_ME'

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex')
function detail(name: string, d: Deployed) {
  const v = d.versions.find((x) => x.version === d.active)!
  return {
    name,
    version: d.active,
    manifest: { on: { http: true } },
    createdAt: '2026-01-01T00:00:00.000Z',
    deployedAt: '2026-01-01T00:00:00.000Z',
    lastInvocation: null,
    source: v.source,
    versions: d.versions.map((x) => ({
      version: x.version,
      checksum: x.checksum,
      createdAt: '2026-01-01T00:00:00.000Z',
      createdBy: 'key:test',
      active: x.version === d.active,
    })),
    secrets: [...d.secrets.keys()].map((n) => ({ name: n, updatedAt: '2026-01-01T00:00:00.000Z' })),
  }
}
const INVOCATIONS = [2, 1].map((n) => ({
  id: `inv-${n}`,
  function: 'hello',
  version: 1,
  trigger: 'http',
  status: n === 2 ? 'error' : 'ok',
  httpStatus: n === 2 ? 502 : 200,
  startedAt: `2026-01-01T00:00:0${n}.000Z`,
  durationMs: 10 * n,
  jobId: null,
  attempt: null,
  error: n === 2 ? 'Error: boom\n    at handler (index.ts:3:11)' : null,
  logs: [{ at: `2026-01-01T00:00:0${n}.001Z`, level: 'info', message: `line ${n}` }],
}))

function answer(req: Seen): { status: number; body?: unknown } {
  const u = new URL(req.url, 'http://x')
  const parts = u.pathname.split('/').slice(1).map(decodeURIComponent)
  if (req.auth !== `Bearer ${KEY}`)
    return { status: 401, body: { code: 'UNAUTHORIZED', message: 'no', status: 401 } }
  const notFound = {
    status: 404,
    body: { code: 'FUNCTION_NOT_FOUND', message: 'Function not found.', status: 404 },
  }
  if (parts[2] === 'jobs') {
    if (parts.length === 3)
      return {
        status: 200,
        body: {
          queues: [
            {
              name: 'functions.hello',
              queued: 1,
              active: 0,
              failed: 2,
              completed: 5,
              deadLetter: 'functions.hello.dead',
            },
          ],
        },
      }
    if (parts.length === 4) return { status: 200, body: { items: [job('j1')], nextCursor: null } }
    if (parts[5] === 'replay')
      return { status: 200, body: { ...job(parts[4]!), queue: 'functions.hello', state: 'created' } }
  }
  const [, , , name, sub, arg] = parts
  if (!name) return { status: 200, body: { items: [...deployed].map(([n, d]) => detail(n, d)) } }
  const d = deployed.get(name)
  if (req.method === 'PUT' && !sub) {
    if (String(req.body.source).includes(REFUSE))
      return { status: 400, body: { code: 'FUNCTION_INVALID', message: 'Refused at line 3', status: 400 } }
    const next: Deployed = d ?? { versions: [], active: 0, secrets: new Map() }
    const version = next.versions.length + 1
    next.versions.push({ version, source: req.body.source, checksum: sha(req.body.source) })
    next.active = version
    deployed.set(name, next)
    return { status: d ? 200 : 201, body: detail(name, next) }
  }
  if (!d) return notFound
  if (req.method === 'GET' && !sub) return { status: 200, body: detail(name, d) }
  if (req.method === 'DELETE' && !sub) {
    deployed.delete(name)
    return { status: 204 }
  }
  if (sub === 'rollback') {
    d.active = req.body.version
    return { status: 200, body: detail(name, d) }
  }
  if (sub === 'secrets') {
    if (req.method === 'PUT') d.secrets.set(arg!, req.body.value)
    else d.secrets.delete(arg!)
    return { status: 204 }
  }
  if (sub === 'invocations') return { status: 200, body: { items: INVOCATIONS, nextCursor: null } }
  return notFound
}

function job(id: string) {
  return {
    id,
    queue: 'functions.hello.dead',
    state: 'created',
    data: {},
    attempts: 4,
    retryLimit: 3,
    createdAt: '2026-01-01T00:00:00.000Z',
    startedAt: null,
    completedAt: null,
    error: 'Error: boom',
    singletonKey: null,
  }
}

beforeAll(async () => {
  server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let text = ''
    for await (const c of req) text += c
    const s: Seen = {
      method: req.method!,
      url: req.url!,
      auth: req.headers.authorization,
      body: text ? JSON.parse(text) : undefined,
    }
    seen.push(s)
    const a = answer(s)
    res.writeHead(a.status, a.body === undefined ? {} : { 'content-type': 'application/json' })
    res.end(a.body === undefined ? '' : JSON.stringify(a.body))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

let project: string
beforeEach(async () => {
  seen.length = 0
  deployed.clear()
  project = tempDir('bastide-fn-')
  expect((await runCli(['init', '.'], { cwd: project })).code).toBe(0)
})
afterEach(() => fs.rmSync(project, { recursive: true, force: true }))

const cli = (args: string[], opts: { input?: string } = {}) =>
  runCli(['--url', url, '--key', KEY, ...args], { cwd: project, ...opts })
const fnDir = (name: string) => path.join(project, 'bastide', 'functions', name)
const write = (rel: string, text: string) => {
  const file = path.join(project, rel)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
}
const puts = () => seen.filter((r) => r.method === 'PUT' && !r.url.includes('/secrets/'))

describe('bastide functions new', () => {
  it('writes one template per trigger, each typechecking against @bastide/sdk/functions', async () => {
    for (const trigger of ['http', 'record', 'cron', 'auth', 'storage']) {
      const r = await runCli(['functions', 'new', `fn-${trigger}`, '--trigger', trigger, '--json'], {
        cwd: project,
      })
      expect(r.code, r.stderr).toBe(0)
      expect(r.json()).toMatchObject({
        name: `fn-${trigger}`,
        trigger,
        file: path.join(fnDir(`fn-${trigger}`), 'index.ts'),
      })
    }
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          strict: true,
          noUncheckedIndexedAccess: true,
          noEmit: true,
          skipLibCheck: true,
          allowImportingTsExtensions: true,
          lib: ['ES2022', 'DOM', 'DOM.Iterable'],
          types: [],
          paths: { '@bastide/sdk/functions': [sdkFunctions], '@bastide/protocol': [protocol] },
        },
        include: ['bastide/functions/**/*.ts'],
      }),
    )
    const tsc = path.join(pkg, 'node_modules', 'typescript', 'bin', 'tsc')
    const r = await promisify(execFile)(process.execPath, [tsc, '-p', project]).catch((e) => e)
    expect(`${r.stdout ?? ''}${r.stderr ?? ''}`).toBe('')
  })

  it('refuses a bad name (2), an unknown trigger (2), and a function that exists (1)', async () => {
    expect((await runCli(['functions', 'new', 'Hello'], { cwd: project })).code).toBe(2)
    expect((await runCli(['functions', 'new', '1x'], { cwd: project })).code).toBe(2)
    expect((await runCli(['functions', 'new', 'x', '--trigger', 'queue'], { cwd: project })).code).toBe(2)
    expect((await runCli(['functions', 'new', 'x'], { cwd: project })).code).toBe(0)
    const again = await runCli(['functions', 'new', 'x', '--trigger', 'cron'], { cwd: project })
    expect(again.code).toBe(1)
    expect(fs.readFileSync(path.join(fnDir('x'), 'index.ts'), 'utf8')).toContain('http: true')
  })
})

describe('bastide functions deploy', () => {
  it('sends a single-file function as written, and bundles relative and npm imports in', async () => {
    write(
      'bastide/functions/plain/index.ts',
      `import { defineFunction } from '@bastide/sdk/functions'\nexport default defineFunction({ on: { http: true }, handler: (e: { request: Request }) => new Response('plain') })\n`,
    )
    write(
      'node_modules/shout/package.json',
      JSON.stringify({ name: 'shout', version: '1.0.0', main: 'index.js' }),
    )
    write(
      'node_modules/shout/index.js',
      `module.exports = function shout(s) { return s.toUpperCase() + '!SHOUTED' }\n`,
    )
    write('bastide/functions/_lib/greet.ts', `export const greet = (n: string): string => 'hi ' + n\n`)
    write(
      'bastide/functions/bundled/index.ts',
      `import { defineFunction } from '@bastide/sdk/functions'
import shout from 'shout'
import { greet } from '../_lib/greet.ts'
export default defineFunction({ on: { cron: '* * * * *' }, handler() { console.log(shout(greet('x'))) } })
`,
    )
    const r = await cli(['functions', 'deploy', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json().results).toEqual([
      expect.objectContaining({ name: 'bundled', status: 'deployed', version: 1, bundled: true }),
      expect.objectContaining({
        name: 'plain',
        status: 'deployed',
        version: 1,
        bundled: false,
        triggers: ['http'],
      }),
    ])
    // _lib is shared code, not a function.
    expect(puts().map((p) => p.url)).toEqual(['/api/admin/functions/bundled', '/api/admin/functions/plain'])
    const plain = puts()[1]!.body.source as string
    expect(plain).toBe(fs.readFileSync(path.join(fnDir('plain'), 'index.ts'), 'utf8'))
    const bundled = puts()[0]!.body.source as string
    expect(bundled).toContain('!SHOUTED')
    expect(bundled).toContain('"hi " + n')
    expect(bundled).toMatch(/from ["']@bastide\/sdk\/functions["']/)
    expect(bundled).not.toMatch(/from ["'](shout|\.\.\/_lib)/)
    expect(bundled).not.toContain(': string')
    expect(bundled).toMatch(/export \{[^}]*as default/)
    // What was deployed loads as an ES module once the SDK import is provided.
    const mod = await import(
      `data:text/javascript,${encodeURIComponent(bundled.replace(/import\s*\{([^}]*)\}\s*from\s*["']@bastide\/sdk\/functions["'];?/, 'const {$1} = { defineFunction: (d) => d };'))}`
    )
    expect(mod.default.on).toEqual({ cron: '* * * * *' })
  })

  it('skips an unchanged function (same checksum as the active version); --force deploys anyway', async () => {
    expect((await runCli(['functions', 'new', 'hello'], { cwd: project })).code).toBe(0)
    expect((await cli(['functions', 'deploy'])).code).toBe(0)
    const again = await cli(['functions', 'deploy'])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/unchanged\s+hello\s+v1\s+http/)
    expect(again.stdout).toContain('0 deployed, 1 unchanged.')
    expect(puts()).toHaveLength(1)
    fs.appendFileSync(path.join(fnDir('hello'), 'index.ts'), '// edited\n')
    const changed = await cli(['functions', 'deploy', 'hello'])
    expect(changed.stdout).toMatch(/deployed\s+hello\s+v2\s+http/)
    expect((await cli(['functions', 'deploy', '--force'])).stdout).toMatch(/deployed\s+hello\s+v3/)
    expect(puts()).toHaveLength(3)
  })

  it('deploys the others when one fails, then exits 1 naming it', async () => {
    for (const n of ['a-ok', 'b-broken', 'c-refused', 'd-ok'])
      expect((await runCli(['functions', 'new', n], { cwd: project })).code).toBe(0)
    fs.appendFileSync(path.join(fnDir('b-broken'), 'index.ts'), 'export const = ;\n')
    fs.appendFileSync(path.join(fnDir('c-refused'), 'index.ts'), `// ${REFUSE}\n`)
    const r = await cli(['functions', 'deploy'])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/deployed\s+a-ok/)
    expect(r.stdout).toMatch(/failed\s+b-broken\s+BUNDLE_FAILED: .*index\.ts:\d+:\d+/)
    expect(r.stdout).toMatch(/failed\s+c-refused\s+FUNCTION_INVALID: Refused at line 3/)
    expect(r.stdout).toMatch(/deployed\s+d-ok/)
    expect(r.stderr).toContain('2 of 4 function(s) failed to deploy: b-broken, c-refused.')
    const json = await cli(['functions', 'deploy', '--json'])
    expect(json.code).toBe(1)
    expect(json.json().error).toMatchObject({
      code: 'DEPLOY_FAILED',
      details: { results: expect.any(Array) },
    })
    expect(json.json().error.details.results.map((x: { status: string }) => x.status)).toEqual([
      'unchanged',
      'failed',
      'failed',
      'unchanged',
    ])
  })

  it('exits 2 for a name without a folder, 1 with no functions at all, 3 without a server', async () => {
    expect((await cli(['functions', 'deploy'])).code).toBe(1)
    expect((await runCli(['functions', 'new', 'hello'], { cwd: project })).code).toBe(0)
    const missing = await cli(['functions', 'deploy', 'hello', 'nope'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('nope')
    expect(seen).toHaveLength(0)
    expect(
      (
        await runCli(['--url', url, '--key', `bst_sk_${'x'.repeat(32)}`, 'functions', 'deploy'], {
          cwd: project,
        })
      ).code,
    ).toBe(3)
  })
})

describe('bastide functions list, rollback, delete, secrets, logs', () => {
  beforeEach(async () => {
    expect((await runCli(['functions', 'new', 'hello'], { cwd: project })).code).toBe(0)
    expect((await cli(['functions', 'deploy'])).code).toBe(0)
    fs.appendFileSync(path.join(fnDir('hello'), 'index.ts'), '// v2\n')
    expect((await cli(['functions', 'deploy'])).code).toBe(0)
    seen.length = 0
  })

  it('lists and rolls back', async () => {
    const list = await cli(['functions', 'list'])
    expect(list.stdout).toMatch(/hello\s+2\s+http\s+2026-01-01T00:00:00.000Z\s+never/)
    expect((await cli(['functions', 'rollback', 'hello', 'two'])).code).toBe(2)
    const r = await cli(['functions', 'rollback', 'hello', '1'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('hello: version 1 is active (http).')
    expect(seen.at(-1)).toMatchObject({
      method: 'POST',
      url: '/api/admin/functions/hello/rollback',
      body: { version: 1 },
    })
  })

  it('deletes only with --yes (exit 4 otherwise), and says so for a missing one', async () => {
    const no = await cli(['functions', 'delete', 'hello'])
    expect(no.code).toBe(4)
    expect(no.stderr).toContain('2 version(s)')
    expect(seen.some((r) => r.method === 'DELETE')).toBe(false)
    expect((await cli(['functions', 'delete', 'hello', '--yes'])).code).toBe(0)
    expect(seen.at(-1)).toMatchObject({ method: 'DELETE', url: '/api/admin/functions/hello' })
    const gone = await cli(['functions', 'delete', 'hello', '--yes', '--json'])
    expect(gone.code).toBe(1)
    expect(gone.json().error.code).toBe('FUNCTION_NOT_FOUND')
  })

  it('sets a secret from stdin without printing it, lists names only, unsets it', async () => {
    const value = 'sk_live_never_echoed_42'
    const set = await cli(['functions', 'secrets', 'set', 'hello', 'MAIL_KEY', '--value', '-'], {
      input: `${value}\n`,
    })
    expect(set.code, set.stderr).toBe(0)
    expect(set.stdout + set.stderr).not.toContain(value)
    expect(seen.at(-1)).toMatchObject({
      method: 'PUT',
      url: '/api/admin/functions/hello/secrets/MAIL_KEY',
      body: { value },
    })
    // Without --value and without a terminal: stdin too.
    expect((await cli(['functions', 'secrets', 'set', 'hello', 'OTHER'], { input: 'x' })).code).toBe(0)
    expect((await cli(['functions', 'secrets', 'set', 'hello', 'EMPTY'], { input: '' })).code).toBe(2)
    expect((await cli(['functions', 'secrets', 'set', 'hello', '9-BAD', '--value', 'x'])).code).toBe(2)
    const list = await cli(['functions', 'secrets', 'list', 'hello', '--json'])
    expect(list.json().items.map((s: { name: string }) => s.name)).toEqual(['MAIL_KEY', 'OTHER'])
    expect(list.stdout).not.toContain(value)
    expect((await cli(['functions', 'secrets', 'unset', 'hello', 'OTHER'])).code).toBe(0)
    expect(seen.at(-1)).toMatchObject({ method: 'DELETE', url: '/api/admin/functions/hello/secrets/OTHER' })
  })

  it('prints invocations oldest first with their logs and errors, with filters', async () => {
    const r = await cli([
      'functions',
      'logs',
      'hello',
      '--status',
      'error',
      '--trigger',
      'http',
      '--limit',
      '5',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(seen.at(-1)!.url).toBe('/api/admin/functions/hello/invocations?status=error&trigger=http&limit=5')
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^2026-01-01T00:00:01.000Z\s+http\s+ok\s+10ms\s+200\s+v1$/)
    expect(lines[1]).toMatch(/^\s+00:00:01.001 info\s+line 1$/)
    expect(lines[2]).toMatch(/^2026-01-01T00:00:02.000Z\s+http\s+error\s+20ms\s+502\s+v1$/)
    expect(r.stdout).toContain('error: Error: boom')
    expect(r.stdout).toContain('at handler (index.ts:3:11)')
    expect((await cli(['functions', 'logs', 'hello', '--status', 'failed'])).code).toBe(2)
    expect((await cli(['functions', 'logs', 'hello', '--limit', '0'])).code).toBe(2)
    expect((await cli(['functions', 'logs', 'hello', '--json'])).json().items).toHaveLength(2)
  })

  it('--follow prints the latest, then new ones as they come, until Ctrl-C', async () => {
    const p = spawnCli(['--url', url, '--key', KEY, 'functions', 'logs', 'hello', '--follow', '--json'], {
      cwd: project,
    })
    await expect
      .poll(
        () =>
          p
            .output()
            .split('\n')
            .filter((l) => l.startsWith('{')).length,
      )
      .toBe(2)
    const before = seen.length
    INVOCATIONS.unshift({ ...INVOCATIONS[0]!, id: 'inv-3', startedAt: '2026-01-01T00:00:03.000Z' })
    try {
      await expect.poll(() => p.output()).toContain('"id":"inv-3"')
      expect(seen.length).toBeGreaterThan(before)
      // Each invocation once.
      expect(p.output().match(/"id":"inv-2"/g)).toHaveLength(1)
      p.child.kill('SIGINT')
      expect(await p.exited).toBe(0)
    } finally {
      INVOCATIONS.shift()
      if (p.child.exitCode === null) p.child.kill('SIGKILL')
    }
  })
})

describe('bastide functions serve', () => {
  it('deploys, redeploys the function whose files change (shared code included), and stops on Ctrl-C', async () => {
    write('bastide/functions/_lib/msg.ts', `export const msg = 'one'\n`)
    write(
      'bastide/functions/uses-lib/index.ts',
      `import { defineFunction } from '@bastide/sdk/functions'\nimport { msg } from '../_lib/msg.ts'\nexport default defineFunction({ on: { http: true }, handler: () => new Response(msg) })\n`,
    )
    expect((await runCli(['functions', 'new', 'alone'], { cwd: project })).code).toBe(0)
    const p = spawnCli(['--url', url, '--key', KEY, 'functions', 'serve'], { cwd: project })
    try {
      await expect.poll(() => p.output()).toContain('ready: watching for changes')
      expect(p.output()).toMatch(/deployed\s+alone\s+v1/)
      expect(p.output()).toMatch(/deployed\s+uses-lib\s+v1/)
      write('bastide/functions/_lib/msg.ts', `export const msg = 'two'\n`)
      await expect.poll(() => p.output()).toMatch(/deployed\s+uses-lib\s+v2/)
      expect(deployed.get('uses-lib')!.versions[1]!.source).toContain('"two"')
      fs.appendFileSync(path.join(fnDir('alone'), 'index.ts'), '// changed\n')
      await expect.poll(() => p.output()).toMatch(/deployed\s+alone\s+v2/)
      // A new function folder is picked up; a broken save is reported and the loop goes on.
      expect((await runCli(['functions', 'new', 'later'], { cwd: project })).code).toBe(0)
      await expect.poll(() => p.output()).toMatch(/deployed\s+later\s+v1/)
      fs.appendFileSync(path.join(fnDir('alone'), 'index.ts'), 'export const = ;\n')
      await expect.poll(() => p.output()).toMatch(/failed\s+alone\s+BUNDLE_FAILED/)
      expect(deployed.get('uses-lib')!.versions).toHaveLength(2)
      p.child.kill('SIGINT')
      expect(await p.exited).toBe(0)
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL')
    }
  })
})

describe('bastide jobs', () => {
  it('lists queues, the dead letters of a queue, and replays one', async () => {
    const list = await cli(['jobs', 'list'])
    expect(list.code, list.stderr).toBe(0)
    expect(list.stdout).toMatch(/functions\.hello\s+1\s+0\s+2\s+5\s+functions\.hello\.dead/)
    const dead = await cli(['jobs', 'dead', 'functions.hello', '--limit', '10'])
    expect(dead.code, dead.stderr).toBe(0)
    expect(seen.at(-1)!.url).toBe('/api/admin/jobs/functions.hello.dead?limit=10')
    expect(dead.stdout).toMatch(/j1\s+created\s+4\/4\s+2026-01-01T00:00:00.000Z\s+Error: boom/)
    expect(dead.stdout).toContain('bastide jobs replay functions.hello.dead <id>')
    const replay = await cli(['jobs', 'replay', 'functions.hello.dead', 'j1', '--json'])
    expect(replay.code, replay.stderr).toBe(0)
    expect(seen.at(-1)).toMatchObject({
      method: 'POST',
      url: '/api/admin/jobs/functions.hello.dead/j1/replay',
    })
    expect(replay.json()).toMatchObject({ id: 'j1', queue: 'functions.hello', state: 'created' })
  })
})
