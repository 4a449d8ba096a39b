import { describe, expectTypeOf, it } from 'vitest'
import { createClient, f, type ListResult } from '../src/index.ts'
import type {
  AppSchema,
  CommentsRecord,
  OrgsRecord,
  PostsRecord,
  UsersRecord,
} from './fixtures/app-schema.ts'

// Type tests: `vitest run` typechecks this file (vitest.config.ts: typecheck). Nothing here executes.
const client = createClient<AppSchema>({ url: 'http://localhost:8787' })
const posts = client.collection('posts')

describe('generated types flow into records', () => {
  it('infers the record type from the collection name', async () => {
    expectTypeOf(await posts.getOne('id')).toEqualTypeOf<PostsRecord>()
    expectTypeOf(await posts.list()).toEqualTypeOf<ListResult<PostsRecord>>()
    expectTypeOf((await posts.getOne('id')).status).toEqualTypeOf<'draft' | 'live'>()
    expectTypeOf((await client.collection('users').getOne('id')).email).toEqualTypeOf<string>()
  })

  it('checks what create and update accept', () => {
    posts.create({ title: 't', status: 'draft', author: 'u' })
    // @ts-expect-error: status must be one of the select's values
    posts.create({ title: 't', status: 'gone', author: 'u' })
    // @ts-expect-error: views is a number
    posts.update('id', { views: 'many' })
    // @ts-expect-error: no such field
    posts.update('id', { titel: 'x' })
    // @ts-expect-error: auth fields of users are read-only
    client.collection('users').update('id', { email: 'x@y.z' })
  })

  it('types expands, nested and back-relations, and refuses unknown paths', async () => {
    const p = await posts.getOne('id', { expand: ['author', 'org', 'comments_via_post'] })
    expectTypeOf(p.expand.author).toEqualTypeOf<UsersRecord | undefined>()
    expectTypeOf(p.expand.org).toEqualTypeOf<OrgsRecord | undefined>()
    expectTypeOf(p.expand.comments_via_post).toEqualTypeOf<CommentsRecord[] | undefined>()
    const c = await client.collection('comments').list({ expand: ['post.org', 'post.author'] })
    const post = c.items[0]!.expand.post!
    expectTypeOf(post.title).toEqualTypeOf<string>()
    expectTypeOf(post.expand.org).toEqualTypeOf<OrgsRecord | undefined>()
    expectTypeOf(post.expand.author).toEqualTypeOf<UsersRecord | undefined>()
    // @ts-expect-error: not a relation of posts
    posts.list({ expand: ['title'] })
    // @ts-expect-error: orgs has no relation called author
    client.collection('orgs').list({ expand: ['posts_via_org.nope'] })
    // Without expand, there is no expand property.
    expectTypeOf(await posts.getOne('id')).not.toHaveProperty('expand')
  })

  it('types sort keys and subscriptions', () => {
    posts.list({ sort: ['-created', 'title'] })
    // @ts-expect-error: not a field
    posts.list({ sort: ['-nope'] })
    posts.subscribe((change) => {
      if (change.action !== 'resync') expectTypeOf(change.record).toEqualTypeOf<PostsRecord>()
    })
  })

  it('a hand-written type works without a schema', async () => {
    interface Note {
      text: string
    }
    const untyped = createClient({ url: 'http://localhost:8787' })
    const n = await untyped.collection<Note>('notes').getOne('id')
    expectTypeOf(n.text).toEqualTypeOf<string>()
    expectTypeOf(n.version).toEqualTypeOf<number>()
    const any = await untyped.collection('whatever').getOne('id')
    expectTypeOf(any.id).toEqualTypeOf<string>()
  })
})

describe('the filter builder checks its placeholders', () => {
  it('requires a value for each {:name}', () => {
    f('author = {:id} && views > {:n}', { id: 'x', n: 1 })
    // @ts-expect-error: n is missing
    f('author = {:id} && views > {:n}', { id: 'x' })
    // @ts-expect-error: objects are not filter values
    f('meta = {:m}', { m: { a: 1 } })
    const dynamic: string = 'title = {:t}'
    f(dynamic, { t: 'any key is allowed when the template is not a literal' })
  })
})
