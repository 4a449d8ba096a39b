import fs from 'node:fs'
import path from 'node:path'
import {
  ADMIN_KEY,
  createCollection,
  createKey,
  startTestServer,
  type TestServer,
} from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnCli } from './support/cli-a.ts'
import { runCli, tempDir } from './support/run-cli.ts'

/**
 * `bastide functions` and `bastide jobs` against a real server: files in a project, bundled by the CLI, deployed,
 * run by the server's sandbox, their invocations and dead letters read back.
 */
let s: TestServer
let project: string

beforeAll(async () => {
  // A function that throws answers 502 FUNCTION_FAILED, which the server logs as a failed request: expected here.
  s = await startTestServer({ listen: true })
  await createCollection(s, { name: 'posts', fields: [{ name: 'title', type: 'text' }] })
  project = tempDir('bastide-fn-e2e-')
  expect((await runCli(['init', '.'], { cwd: project })).code).toBe(0)
})
afterAll(async () => {
  await s?.close()
  if (project) fs.rmSync(project, { recursive: true, force: true })
})

const cli = (args: string[], o: { key?: string; input?: string } = {}) =>
  runCli(['--url', s.bastide.url, '--key', o.key ?? ADMIN_KEY, ...args], {
    cwd: project,
    ...(o.input !== undefined ? { input: o.input } : {}),
  })
const write = (rel: string, text: string) => {
  const file = path.join(project, 'bastide', 'functions', rel)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
}
const call = async (p: string) => {
  const res = await fetch(`${s.bastide.url}/api/functions/${p}`)
  return { status: res.status, body: await res.json() }
}

describe('bastide functions', () => {
  it('deploys a bundled function, skips it unchanged, logs its calls, rolls back and deletes it', async () => {
    fs.mkdirSync(path.join(project, 'node_modules', 'shout'), { recursive: true })
    fs.writeFileSync(
      path.join(project, 'node_modules', 'shout', 'package.json'),
      JSON.stringify({ name: 'shout', version: '1.0.0', main: 'index.js' }),
    )
    fs.writeFileSync(
      path.join(project, 'node_modules', 'shout', 'index.js'),
      'module.exports = (s) => s.toUpperCase()\n',
    )
    const hello = (v: number) => `import { defineFunction } from '@bastide/sdk/functions'
import shout from 'shout'
export default defineFunction({
  on: { http: true },
  handler(event, ctx) {
    const name = new URL(event.request.url).searchParams.get('name') ?? 'world'
    ctx.log.info('greeting', name)
    return Response.json({ v: ${v}, hello: shout(name) })
  },
})
`
    write('hello/index.ts', hello(1))
    const first = await cli(['functions', 'deploy', '--json'])
    expect(first.code, first.stderr).toBe(0)
    expect(first.json().results).toEqual([
      expect.objectContaining({
        name: 'hello',
        status: 'deployed',
        version: 1,
        triggers: ['http'],
        bundled: true,
      }),
    ])
    expect(await call('hello?name=cli')).toEqual({ status: 200, body: { v: 1, hello: 'CLI' } })

    const again = await cli(['functions', 'deploy'])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/unchanged\s+hello\s+v1/)

    write('hello/index.ts', hello(2))
    expect((await cli(['functions', 'deploy', 'hello'])).stdout).toMatch(/deployed\s+hello\s+v2\s+http/)
    expect(await call('hello?name=two')).toEqual({ status: 200, body: { v: 2, hello: 'TWO' } })

    const list = await cli(['functions', 'list', '--json'])
    expect(list.json().items).toEqual([expect.objectContaining({ name: 'hello', version: 2 })])

    await expect
      .poll(async () => (await cli(['functions', 'logs', 'hello', '--json'])).json().items.length)
      .toBeGreaterThanOrEqual(2)
    const logs = await cli(['functions', 'logs', 'hello'])
    expect(logs.stdout).toMatch(/http\s+ok\s+[\d.]+m?s\s+200\s+v1/)
    expect(logs.stdout).toMatch(/info\s+greeting two/)

    expect((await cli(['functions', 'rollback', 'hello', '1'])).code).toBe(0)
    expect((await call('hello?name=back')).body).toEqual({ v: 1, hello: 'BACK' })

    expect((await cli(['functions', 'delete', 'hello'])).code).toBe(4)
    expect((await call('hello')).status).toBe(200)
    expect((await cli(['functions', 'delete', 'hello', '--yes'])).code).toBe(0)
    expect(await call('hello')).toMatchObject({ status: 404, body: { code: 'FUNCTION_NOT_FOUND' } })
  })

  it('reports a refused function (unknown collection) and deploys the others, exit 1', async () => {
    write(
      'bad-coll/index.ts',
      `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { record: { collection: 'no_such_collection' } }, handler() {} })
`,
    )
    write(
      'good/index.ts',
      `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { record: { collection: 'posts', actions: ['create'] } }, handler() {} })
`,
    )
    const r = await cli(['functions', 'deploy', 'bad-coll', 'good'])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/failed\s+bad-coll\s+FUNCTION_INVALID/)
    expect(r.stdout).toMatch(/deployed\s+good\s+v1\s+record:posts\(create\)/)
    fs.rmSync(path.join(project, 'bastide', 'functions', 'bad-coll'), { recursive: true })
  })

  it('sets a secret from stdin that the function reads, never printing it', async () => {
    write(
      'secretive/index.ts',
      `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { http: true }, handler: (_e, ctx) => Response.json({ len: (ctx.secrets.TOKEN ?? '').length }) })
`,
    )
    expect((await cli(['functions', 'deploy', 'secretive'])).code).toBe(0)
    const value = 'tok_0123456789'
    const set = await cli(['functions', 'secrets', 'set', 'secretive', 'TOKEN', '--value', '-'], {
      input: `${value}\n`,
    })
    expect(set.code, set.stderr).toBe(0)
    expect(set.stdout + set.stderr).not.toContain(value)
    expect((await call('secretive')).body).toEqual({ len: value.length })
    const list = await cli(['functions', 'secrets', 'list', 'secretive'])
    expect(list.stdout).toContain('TOKEN')
    expect(list.stdout).not.toContain(value)
    expect((await cli(['functions', 'secrets', 'unset', 'secretive', 'TOKEN'])).code).toBe(0)
    expect((await call('secretive')).body).toEqual({ len: 0 })
  })

  it('takes a key with the functions scope, refuses one without it (exit 3)', async () => {
    const scoped = await createKey(s, ['functions'])
    expect((await cli(['functions', 'list'], { key: scoped })).code).toBe(0)
    const other = await createKey(s, ['metrics'])
    expect((await cli(['functions', 'list'], { key: other })).code).toBe(3)
  })

  it('serve redeploys on save to the real server', async () => {
    write(
      'live/index.ts',
      `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { http: true }, handler: () => Response.json({ n: 1 }) })
`,
    )
    const p = spawnCli(['--url', s.bastide.url, '--key', ADMIN_KEY, 'functions', 'serve'], { cwd: project })
    try {
      await expect.poll(() => p.output()).toContain('ready: watching for changes')
      expect((await call('live')).body).toEqual({ n: 1 })
      write(
        'live/index.ts',
        `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({ on: { http: true }, handler: () => Response.json({ n: 2 }) })
`,
      )
      await expect.poll(() => p.output()).toMatch(/deployed\s+live\s+v2/)
      expect((await call('live')).body).toEqual({ n: 2 })
      p.child.kill('SIGINT')
      expect(await p.exited).toBe(0)
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL')
    }
  })
})

describe('bastide jobs', () => {
  it('shows a failed record event in the dead letters, and replays it', async () => {
    write(
      'always-fails/index.ts',
      `import { defineFunction } from '@bastide/sdk/functions'
export default defineFunction({
  on: { record: { collection: 'posts', actions: ['create'] } },
  retries: 0,
  handler() { throw new Error('nope, on purpose') },
})
`,
    )
    expect((await cli(['functions', 'deploy', 'always-fails'])).code).toBe(0)
    expect((await s.api('POST', '/api/collections/posts/records', { title: 'x' })).status).toBe(201)
    const queue = 'functions.always-fails'
    await expect
      .poll(async () => (await cli(['jobs', 'dead', queue, '--json'])).json().items?.length ?? 0)
      .toBeGreaterThanOrEqual(1)
    const dead = (await cli(['jobs', 'dead', queue, '--json'])).json()
    expect(dead.queue).toBe(`${queue}.dead`)
    const list = await cli(['jobs', 'list', '--json'])
    expect(list.json().queues).toEqual(expect.arrayContaining([expect.objectContaining({ name: queue })]))
    const replay = await cli(['jobs', 'replay', dead.queue, dead.items[0].id, '--json'])
    expect(replay.code, replay.stderr).toBe(0)
    expect(replay.json()).toMatchObject({ queue })
    await expect
      .poll(
        async () =>
          (await cli(['functions', 'logs', 'always-fails', '--status', 'error', '--json'])).json().items
            .length,
      )
      .toBeGreaterThanOrEqual(2)
  })
})
