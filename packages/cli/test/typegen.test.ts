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
import { runCli, tempDir } from './support/run-cli.ts'

let s: TestServer
let cli: (key: string, ...args: string[]) => ReturnType<typeof runCli>

beforeAll(async () => {
  s = await startTestServer({ listen: true })
  await createCollection(s, {
    name: 'posts',
    fields: [
      { name: 'title', type: 'text', required: true },
      { name: 'status', type: 'select', options: { values: ['draft', 'live'] } },
    ],
  })
  cli = (key, ...args) => runCli(['--url', s.bastide.url, '--key', key, ...args])
})
afterAll(async () => {
  await s?.close()
})

describe('bastide typegen', () => {
  it("writes the server's collection types to --out, registered with the SDK", async () => {
    const out = path.join(tempDir(), 'src', 'bastide-env.d.ts')
    const schemaKey = await createKey(s, ['schema'])
    const run = await cli(schemaKey, 'typegen', '--out', out, '--json')
    expect(run.code, run.stderr).toBe(0)
    const text = fs.readFileSync(out, 'utf8')
    expect(run.json()).toEqual({ out, collections: expect.any(Number), bytes: Buffer.byteLength(text) })
    expect(text).toContain('export interface PostsRecord')
    expect(text).toMatch(/status\??: 'draft' \| 'live'/)
    expect(text).toContain('export type AppSchema')
    expect(text).toContain("declare module '@bastide/sdk'")
  })

  it('prints to stdout without --out; --schema names the type and --no-register leaves the SDK alone', async () => {
    const run = await cli(ADMIN_KEY, 'typegen', '--schema', 'ShopSchema', '--no-register')
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('export type ShopSchema')
    expect(run.stdout).not.toContain('declare module')
    const json = (await cli(ADMIN_KEY, 'typegen', '--json')).json()
    expect(json.types).toContain('PostsRecord')
  })

  it('exits 3 for a key without the schema scope', async () => {
    const weak = await createKey(s, ['records:read'])
    expect((await cli(weak, 'typegen')).code).toBe(3)
  })
})
