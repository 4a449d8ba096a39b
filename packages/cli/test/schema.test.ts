import fs from 'node:fs'
import path from 'node:path'
import { ADMIN_KEY, startTestServer, type TestServer } from '@bastide/server/test/support/harness.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, tempDir } from './support/run-cli.ts'
import { buildSampleSchema, openApiOf } from './support/schema-fixture.ts'

let a: TestServer
let b: TestServer
let project: string
const on = (s: TestServer) => ['--url', s.bastide.url, '--key', ADMIN_KEY]
const files = (dir: string) =>
  fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.json'))
    .sort()

beforeAll(async () => {
  ;[a, b] = await Promise.all([startTestServer({ listen: true }), startTestServer({ listen: true })])
  await buildSampleSchema(a)
  project = tempDir()
})
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()])
})

describe('bastide schema', () => {
  it('pull writes one reviewable file per collection, bucket and channel definition', async () => {
    const r = await runCli([...on(a), 'schema', 'pull', '--dir', 'bastide'], { cwd: project })
    expect(r.code, r.stderr).toBe(0)
    const dir = path.join(project, 'bastide', 'schema')
    expect(files(dir)).toEqual([
      'buckets/avatars.json',
      'channels/room%3A%2A.json',
      'collections/authors.json',
      'collections/posts.json',
      'collections/users.json',
    ])
    const text = fs.readFileSync(path.join(dir, 'collections/posts.json'), 'utf8')
    expect(text.endsWith('}\n')).toBe(true)
    expect(text).toContain('\n  "fields": [\n    {\n      "name": "title",')
    const posts = JSON.parse(text)
    expect(Object.keys(posts)).toEqual(['name', 'fields', 'indexes', 'rules'])
    expect(posts.indexes).toEqual([{ fields: ['status', 'created'], unique: false }])
    expect(r.stdout).toContain('5 written, 0 removed, 0 unchanged.')

    // Pulling again rewrites nothing: the files are stable.
    const again = await runCli([...on(a), 'schema', 'pull', '--dir', 'bastide', '--json'], { cwd: project })
    expect(again.json()).toMatchObject({ written: [], removed: [], unchanged: 5 })
  })

  it('diff shows what a push into an empty instance creates; --exit-code exits 4', async () => {
    const r = await runCli([...on(b), 'schema', 'diff', '--dir', 'bastide'], { cwd: project })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('+ create bucket avatars')
    expect(r.stdout).toContain('+ create collection authors')
    expect(r.stdout).toContain('+ create collection posts')
    expect(r.stdout).toContain('+ add field users.nickname text')
    expect(r.stdout).toContain('~ rules of users: list "id = @request.auth.id" → everyone')
    expect(r.stdout).toContain('+ define channel room:*')
    expect(r.stdout).not.toContain('[destructive]')
    const json = await runCli([...on(b), 'schema', 'diff', '--dir', 'bastide', '--json', '--exit-code'], {
      cwd: project,
    })
    expect(json.code).toBe(4)
    expect(json.stdout).toContain('"hash"')
  })

  it('push into an empty instance makes it identical: same schema, same API document', async () => {
    const r = await runCli([...on(b), 'schema', 'push', '--dir', 'bastide'], { cwd: project })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('in one transaction')
    expect((await b.api('GET', '/api/admin/schema')).body).toEqual(
      (await a.api('GET', '/api/admin/schema')).body,
    )
    expect(await openApiOf(b, b.bastide.url)).toEqual(await openApiOf(a, a.bastide.url))
    // And it works: a relation through the pushed schema resolves.
    const author = await b.api('POST', '/api/collections/authors/records', { name: 'Ada' })
    expect(author.status).toBe(201)
    const post = await b.api('POST', '/api/collections/posts/records', {
      title: 'Hi',
      author: author.body.id,
    })
    expect(post.status).toBe(201)

    const nothing = await runCli([...on(b), 'schema', 'diff', '--dir', 'bastide', '--exit-code'], {
      cwd: project,
    })
    expect(nothing.code).toBe(0)
    expect(nothing.stdout).toContain('No changes')
  })

  it('a destructive change in the files is refused without --yes (exit 4) and applied with it', async () => {
    const file = path.join(project, 'bastide/schema/collections/posts.json')
    const posts = JSON.parse(fs.readFileSync(file, 'utf8'))
    posts.fields = posts.fields.filter((f: { name: string }) => f.name !== 'views')
    posts.fields.push({ name: 'summary', type: 'text' })
    fs.writeFileSync(file, `${JSON.stringify(posts, null, 2)}\n`)

    const diff = await runCli([...on(b), 'schema', 'diff', '--dir', 'bastide'], { cwd: project })
    expect(diff.stdout).toContain('+ add field posts.summary text')
    expect(diff.stdout).toContain('- drop field posts.views and its values  [destructive]')

    const checked = await runCli([...on(b), 'schema', 'diff', '--dir', 'bastide', '--check'], {
      cwd: project,
    })
    expect(checked.code, checked.stderr).toBe(0)
    expect(checked.stdout).toContain('-- checked: the apply runs (then was rolled back):')
    expect(checked.stdout).toMatch(/alter table "data"\."posts" drop column "views";/i)

    const refused = await runCli([...on(b), 'schema', 'push', '--dir', 'bastide'], { cwd: project })
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain('1 destructive change(s): nothing was applied')
    const fields = async () =>
      (await b.api('GET', '/api/collections/posts')).body.fields.map((f: { name: string }) => f.name)
    expect(await fields()).toContain('views')
    expect(await fields()).not.toContain('summary')

    const dry = await runCli([...on(b), 'schema', 'push', '--dir', 'bastide', '--yes', '--dry-run'], {
      cwd: project,
    })
    expect(dry.code).toBe(0)
    expect(await fields()).toContain('views')

    const applied = await runCli([...on(b), 'schema', 'push', '--dir', 'bastide', '--yes', '--json'], {
      cwd: project,
    })
    expect(applied.code, applied.stderr).toBe(0)
    expect(applied.json()).toMatchObject({ applied: true })
    expect(await fields()).toEqual(['title', 'status', 'author', 'tags', 'summary'])
  })

  it('pull removes the files of objects that no longer exist', async () => {
    const defs = await b.api('GET', '/api/realtime/channels')
    await b.api('DELETE', `/api/realtime/channels/${defs.body.items[0].id}`)
    const r = await runCli([...on(b), 'schema', 'pull', '--dir', 'bastide', '--json'], { cwd: project })
    expect(r.code, r.stderr).toBe(0)
    expect(r.json().removed).toEqual([path.join('schema', 'channels', 'room%3A%2A.json')])
    // The hand-edited file comes back in canonical form (defaults explicit): the next pull leaves it alone.
    expect(r.json().written).toEqual([path.join('schema', 'collections', 'posts.json')])
    const again = await runCli([...on(b), 'schema', 'pull', '--dir', 'bastide', '--json'], { cwd: project })
    expect(again.json()).toMatchObject({ written: [], removed: [] })
  })

  it('pull refuses (exit 1) objects whose names differ only in case, writing nothing', async () => {
    const c = await startTestServer({ listen: true })
    try {
      for (const name of ['Shouty', 'shouty']) {
        const r = await c.api('POST', '/api/collections', { name, fields: [{ name: 'title', type: 'text' }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
      }
      const fresh = tempDir()
      const r = await runCli([...on(c), 'schema', 'pull', '--dir', 'bastide', '--json'], { cwd: fresh })
      expect(r.code).toBe(1)
      expect(r.json().error).toMatchObject({ code: 'FILE_NAME_COLLISION' })
      expect(r.json().error.message).toContain('"Shouty" and "shouty"')
      // Not even the objects that do not collide: a pull is all or nothing.
      expect(fs.existsSync(path.join(fresh, 'bastide'))).toBe(false)
    } finally {
      await c.close()
    }
  })

  it('fails clearly without schema files, or with a file that is not JSON', async () => {
    const empty = tempDir()
    const none = await runCli([...on(b), 'schema', 'diff', '--dir', 'bastide'], { cwd: empty })
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('schema pull')
    fs.mkdirSync(path.join(empty, 'bastide/schema/buckets'), { recursive: true })
    fs.writeFileSync(path.join(empty, 'bastide/schema/buckets/x.json'), '{ nope')
    const broken = await runCli([...on(b), 'schema', 'push', '--dir', 'bastide'], { cwd: empty })
    expect(broken.code).toBe(1)
    expect(broken.stderr).toContain('x.json is not valid JSON')
  })
})
