import fs from 'node:fs'
import path from 'node:path'
import { ADMIN_KEY, startTestServer, type TestServer } from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, tempDir } from './support/run-cli.ts'
import { buildSampleSchema } from './support/schema-fixture.ts'

let dev: TestServer
let staging: TestServer
let project: string
const on = (s: TestServer) => ['--url', s.bastide.url, '--key', ADMIN_KEY]
const cli = (s: TestServer, ...args: string[]) => runCli([...on(s), ...args], { cwd: project })
const schemaOf = async (s: TestServer) => (await s.api('GET', '/api/admin/schema')).body
const migrationsDir = () => path.join(project, 'bastide', 'migrations')

beforeAll(async () => {
  ;[dev, staging] = await Promise.all([startTestServer({ listen: true }), startTestServer({ listen: true })])
  // A project folder (what `bastide init` makes): commands find bastide/ from the working directory.
  project = tempDir()
  fs.mkdirSync(path.join(project, 'bastide'))
  fs.writeFileSync(path.join(project, 'bastide', 'config.json'), '{ "name": "demo" }\n')
})
afterAll(async () => {
  await Promise.all([dev?.close(), staging?.close()])
})

describe('bastide migrations', () => {
  it('new writes ordered migrations from the changes to the schema files, and nothing when there are none', async () => {
    await buildSampleSchema(dev)
    expect((await cli(dev, 'schema', 'pull')).code).toBe(0)
    const first = await cli(dev, 'migrations', 'new', 'initial schema', '--json')
    expect(first.code, first.stderr).toBe(0)
    expect(first.json()).toMatchObject({ created: '0001_initial_schema' })
    expect(first.json().changes.map((c: { op: string }) => c.op)).toContain('collection.create')

    // A change on the dev instance, pulled and captured as the next migration.
    const add = await dev.api('PATCH', '/api/collections/posts', {
      fields: [
        ...(await dev.api('GET', '/api/collections/posts')).body.fields,
        { name: 'summary', type: 'text' },
      ],
    })
    expect(add.status).toBe(200)
    expect((await cli(dev, 'schema', 'pull')).code).toBe(0)
    const second = await cli(dev, 'migrations', 'new', 'add-summary')
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toContain('+ add field posts.summary text')
    expect(second.stdout).toContain(path.join('bastide', 'migrations', '0002_add-summary.json'))

    const none = await cli(dev, 'migrations', 'new', 'nothing')
    expect(none.code).toBe(0)
    expect(none.stdout).toContain('nothing written')
    expect(fs.readdirSync(migrationsDir()).sort()).toEqual([
      '0001_initial_schema.json',
      '0002_add-summary.json',
    ])
    const file = JSON.parse(fs.readFileSync(path.join(migrationsDir(), '0002_add-summary.json'), 'utf8'))
    expect(Object.keys(file)).toEqual(['id', 'changes', 'checksum', 'schema'])
  })

  it('status shows what staging lacks; up applies it in order, and the schemas match', async () => {
    const before = await cli(staging, 'migrations', 'status', '--json')
    expect(before.code, before.stderr).toBe(0)
    expect(before.json().migrations.map((m: { state: string }) => m.state)).toEqual(['pending', 'pending'])

    const up = await cli(staging, 'migrations', 'up', '--json')
    expect(up.code, up.stderr).toBe(0)
    expect(up.json()).toEqual({ applied: ['0001_initial_schema', '0002_add-summary'] })
    expect(await schemaOf(staging)).toEqual(await schemaOf(dev))

    const after = await cli(staging, 'migrations', 'status')
    expect(after.code).toBe(0)
    expect(after.stdout).toMatch(/0001_initial_schema\s+applied/)
    expect(after.stdout).toMatch(/0002_add-summary\s+applied/)
    const again = await cli(staging, 'migrations', 'up')
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('Up to date')
  })

  it('a destructive migration needs --yes; without it nothing of it is applied (exit 4)', async () => {
    const file = path.join(project, 'bastide/schema/collections/posts.json')
    const posts = JSON.parse(fs.readFileSync(file, 'utf8'))
    posts.fields = posts.fields.filter((f: { name: string }) => f.name !== 'views')
    fs.writeFileSync(file, `${JSON.stringify(posts, null, 2)}\n`)
    const made = await cli(dev, 'migrations', 'new', 'drop views')
    expect(made.code, made.stderr).toBe(0)
    expect(made.stdout).toContain('- drop field posts.views and its values  [destructive]')

    const refused = await cli(staging, 'migrations', 'up')
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain('0003_drop_views has destructive changes')
    const status = await cli(staging, 'migrations', 'status', '--json')
    expect(status.json().migrations.at(-1)).toMatchObject({ id: '0003_drop_views', state: 'pending' })

    const up = await cli(staging, 'migrations', 'up', '--yes', '--json')
    expect(up.code, up.stderr).toBe(0)
    expect(up.json()).toEqual({ applied: ['0003_drop_views'] })
    const fields = (await staging.api('GET', '/api/collections/posts')).body.fields.map(
      (f: { name: string }) => f.name,
    )
    expect(fields).not.toContain('views')
  })

  it('replays every migration on a fresh instance (prod) to the same schema', async () => {
    const prod = await startTestServer({ listen: true })
    try {
      const up = await cli(prod, 'migrations', 'up', '--yes', '--json')
      expect(up.code, up.stderr).toBe(0)
      expect(up.json().applied).toHaveLength(3)
      expect(await schemaOf(prod)).toEqual(await schemaOf(staging))
    } finally {
      await prod.close()
    }
  })

  it('flags a migration file edited after it was written, and applies nothing then', async () => {
    const file = path.join(migrationsDir(), '0002_add-summary.json')
    const m = JSON.parse(fs.readFileSync(file, 'utf8'))
    m.schema.collections[0].rules.list = null
    fs.writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`)
    const status = await cli(staging, 'migrations', 'status')
    expect(status.code).toBe(1)
    expect(status.stdout).toMatch(/0002_add-summary\s+edited/)
    const up = await cli(staging, 'migrations', 'up')
    expect(up.code).toBe(1)
    expect(up.stderr).toContain('refusing to apply anything')
  })
})
