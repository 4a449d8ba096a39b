import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError } from '../src/index.ts'
import { ADMIN_KEY, clientFor, createCollection, startServer, type TestServer } from './support/server.ts'

let s: TestServer & { url: string }
beforeAll(async () => {
  s = await startServer()
  await createCollection(s, { name: 'authors', fields: [{ name: 'name', type: 'text' }] })
})
afterAll(() => s?.close())

describe('client.admin.collections.checkRule', () => {
  const draft = {
    name: 'posts',
    fields: [
      { name: 'title', type: 'text' as const, options: { min: 1, max: 200, pattern: '^[A-Z]' } },
      {
        name: 'author',
        type: 'relation' as const,
        options: { collection: 'authors', onDelete: 'cascade' as const },
      },
      { name: 'tags', type: 'select' as const, options: { values: [], multiple: true } },
    ],
  }

  it('resolves for a valid rule on a draft (options a rule cannot read are left out of the request)', async () => {
    const c = clientFor(s, { apiKey: ADMIN_KEY })
    await expect(
      c.admin.collections.checkRule({
        collection: draft,
        action: 'list',
        rule: "author.name != '' && tags ?= 'x'",
      }),
    ).resolves.toBeUndefined()
  })

  it('rejects with INVALID_FILTER and the position of the problem', async () => {
    const c = clientFor(s, { apiKey: ADMIN_KEY })
    const rule = "title != '' && author.nope = 1"
    const e = await c.admin.collections
      .checkRule({ collection: draft, action: 'view', rule })
      .catch((x: unknown) => x)
    expect(e).toBeInstanceOf(BastideError)
    expect((e as BastideError).code).toBe('INVALID_FILTER')
    expect((e as BastideError).status).toBe(400)
    expect((e as BastideError).details?.position).toBe(rule.indexOf('author.nope'))
  })

  it('is refused without a credential', async () => {
    const e = await clientFor(s)
      .admin.collections.checkRule({ collection: draft, action: 'list', rule: "title != ''" })
      .catch((x: unknown) => x)
    expect((e as BastideError).status).toBe(401)
  })
})
