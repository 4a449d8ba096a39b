// Compiled by test/typegen.test.ts (tsc -p here): the schema registered through `Register`, as the generated
// file does, types `client.collection('posts')` with no annotation anywhere.
import { createClient } from '@bastide/sdk'
import type { AppSchema, PostsRecord } from '../../fixtures/app-schema.ts'

declare module '@bastide/sdk' {
  interface Register {
    schema: AppSchema
  }
}

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const assert = <T extends true>(_: T) => {}

export async function check() {
  const client = createClient({ url: 'http://localhost:8787' })
  const post = await client.collection('posts').getOne('id', { expand: ['author'] })
  assert<Equal<typeof post.title, string>>(true)
  assert<Equal<Omit<typeof post, 'expand'>, PostsRecord>>(true)
  // @ts-expect-error: registered collections are checked: this one does not exist
  client.collection('postz').create({ title: 'x' })
}
