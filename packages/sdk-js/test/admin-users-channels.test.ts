import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BastideError } from '../src/index.ts'
import { AdminChannels } from '../src/services/admin/channels.ts'
import {
  ADMIN_KEY,
  clientFor,
  createCollection,
  email,
  startServer,
  type TestServer,
} from './support/server.ts'

/** client.admin.users.deletePreview and AdminChannels against a real server, with the admin key. */
let s: TestServer & { url: string }

beforeAll(async () => {
  s = await startServer()
  await createCollection(s, {
    name: 'posts',
    fields: [{ name: 'author', type: 'relation', options: { collection: 'users', onDelete: 'cascade' } }],
  })
})
afterAll(async () => {
  await s?.close()
})

describe('client.admin.users.deletePreview', () => {
  it('says what a delete takes with the user, and writes nothing', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    const user = await admin.admin.users.create({
      email: email('preview'),
      password: 'a long and unusual passphrase',
    })
    await admin.collection('posts').create({ author: user.id })
    const p = await admin.admin.users.deletePreview(user.id)
    expect(p).toMatchObject({ user: { id: user.id }, cascade: { posts: 1 }, blocked: false, accounts: 1 })
    expect(p.relations).toEqual([
      expect.objectContaining({ collection: 'posts', field: 'author', effect: 'delete', records: 1 }),
    ])
    expect((await admin.collection('posts').list()).items).toHaveLength(1)
    admin.close()
  })

  it('rejects with the server’s BastideError', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    const err = await admin.admin.users.deletePreview('00000000-0000-4000-8000-000000000000').catch((e) => e)
    expect(err).toBeInstanceOf(BastideError)
    expect(err).toMatchObject({ code: 'NOT_FOUND', status: 404 })
    admin.close()
  })
})

describe('AdminChannels', () => {
  it('creates, lists, updates and removes channel definitions', async () => {
    const admin = clientFor(s, { apiKey: ADMIN_KEY })
    const channels = new AdminChannels(admin.http)
    const def = await channels.create({ pattern: 'room:*', rules: { join: '' } })
    expect(def).toMatchObject({ pattern: 'room:*', rules: { join: '', send: null }, presence: true })
    expect((await channels.list()).map((d) => d.pattern)).toEqual(['room:*'])
    expect(await channels.update(def.id, { presence: false })).toMatchObject({ presence: false })
    expect((await channels.get(def.id)).presence).toBe(false)
    const bad = await channels.create({ pattern: 'no spaces allowed' }).catch((e) => e)
    expect(bad).toBeInstanceOf(BastideError)
    expect(bad.status).toBe(400)
    await channels.remove(def.id)
    expect(await channels.list()).toEqual([])
    admin.close()
  })
})
