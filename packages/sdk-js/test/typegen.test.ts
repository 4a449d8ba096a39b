import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateTypes } from '../src/typegen.ts'
import { ADMIN_KEY, createCollection, startServer, type TestServer } from './support/server.ts'

/** The schema the type tests (types.test-d.ts, types/register) use: generated here from a real server. */
const FIXTURE = fileURLToPath(new URL('./fixtures/app-schema.ts', import.meta.url))

let s: TestServer & { url: string }
beforeAll(async () => {
  s = await startServer()
  const open = { list: '', view: '', create: '', update: '', delete: '' }
  const b = await s.api('POST', '/api/storage/buckets', { name: 'photos' })
  if (b.status !== 201) throw new Error(`bucket: ${b.status} ${JSON.stringify(b.body)}`)
  await createCollection(s, {
    name: 'orgs',
    fields: [{ name: 'name', type: 'text', required: true }],
    rules: open,
  })
  await createCollection(s, {
    name: 'posts',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'views', type: 'number', options: { integer: true } },
      { name: 'published', type: 'bool' },
      { name: 'status', type: 'select', required: true, options: { values: ['draft', 'live'] } },
      { name: 'tags', type: 'select', options: { values: ['a', 'b'], multiple: true } },
      { name: 'author', type: 'relation', required: true, options: { collection: 'users' } },
      { name: 'org', type: 'relation', options: { collection: 'orgs' } },
      { name: 'photos', type: 'file', options: { bucket: 'photos', multiple: true } },
      { name: 'meta', type: 'json' },
      { name: 'secret', type: 'text', hidden: true },
    ],
    rules: open,
  })
  await createCollection(s, {
    name: 'comments',
    fields: [
      { name: 'body', type: 'text', required: true },
      {
        name: 'post',
        type: 'relation',
        required: true,
        options: { collection: 'posts', onDelete: 'cascade' },
      },
    ],
    rules: open,
  })
})
afterAll(() => s?.close())

describe('generateTypes', () => {
  it('writes the checked-in fixture from a live server (UPDATE_FIXTURES=1 rewrites it)', async () => {
    const res = await fetch(`${s.url}/api/collections`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    const { items } = (await res.json()) as { items: Parameters<typeof generateTypes>[0] }
    const text = generateTypes(items, { register: false, moduleName: '../../src/index.ts' })
    if (process.env.UPDATE_FIXTURES) writeFileSync(FIXTURE, text)
    expect(text).toBe(readFileSync(FIXTURE, 'utf8'))
    // Shapes worth stating outright.
    expect(text).toContain("readonly status: 'draft' | 'live'\n")
    expect(text).toContain("readonly tags: ('a' | 'b')[]\n")
    expect(text).toContain('readonly secret?: string | null\n')
    expect(text).toContain("comments_via_post: { collection: 'comments'; multiple: true }")
    expect(text).toContain("author: { collection: 'users'; multiple: false }")
  })

  it('quotes names that are not identifiers and keeps type names apart', () => {
    const text = generateTypes([
      { name: 'my_posts', fields: [{ name: 'x', type: 'text' }] },
      { name: 'myPosts', fields: [{ name: "it's", type: 'number', required: true }] },
    ])
    expect(text).toContain('export interface MyPostsRecord')
    expect(text).toContain('export interface MyPosts2Record')
    expect(text).toContain("readonly 'it\\'s': number\n")
    expect(text).toContain("declare module '@bastide/sdk'")
  })

  it('a schema registered through Register types collections with no annotation (tsc on test/types/register)', async () => {
    const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
    const project = fileURLToPath(new URL('./types/register/tsconfig.json', import.meta.url))
    const run = await promisify(execFile)(process.execPath, [tsc, '--noEmit', '-p', project]).then(
      () => ({ ok: true, out: '' }),
      (e: { stdout?: string }) => ({ ok: false, out: e.stdout ?? String(e) }),
    )
    expect(run.out).toBe('')
    expect(run.ok).toBe(true)
  }, 60_000)
})
