import { describe, expectTypeOf, it } from 'vitest'
import type { BastideClient } from '../src/client.ts'
import {
  type AuthFunctionEvent,
  type CronFunctionEvent,
  defineFunction,
  type FunctionJob,
  type HttpFunctionEvent,
  type RecordFunctionEvent,
  type StorageFunctionEvent,
} from '../src/functions.ts'

// Type tests: `vitest run` typechecks this file (vitest.config.ts: typecheck). Nothing here executes.

describe('defineFunction types the event by the declared triggers', () => {
  it('one HTTP trigger: a Request in, a Response out', () => {
    defineFunction({
      on: { http: true },
      async handler(event, ctx) {
        expectTypeOf(event).toEqualTypeOf<HttpFunctionEvent>()
        expectTypeOf(event.request).toEqualTypeOf<Request>()
        expectTypeOf(ctx.client).toEqualTypeOf<BastideClient>()
        expectTypeOf(ctx.job).toEqualTypeOf<FunctionJob | null>()
        return Response.json({ ok: true })
      },
    })
    defineFunction({
      on: { http: { methods: ['POST'] } },
      // @ts-expect-error: an HTTP handler must answer with a Response
      handler: async () => ({ ok: true }),
    })
  })

  it('several triggers: a union narrowed by event.trigger', () => {
    defineFunction({
      on: [{ http: true }, { record: { collection: 'posts', actions: ['create'] } }, { cron: '*/5 * * * *' }],
      retries: 5,
      timeoutMs: 2000,
      async handler(event, ctx) {
        expectTypeOf(event).toEqualTypeOf<HttpFunctionEvent | RecordFunctionEvent | CronFunctionEvent>()
        if (event.trigger === 'http') return new Response('hi')
        if (event.trigger === 'record') {
          expectTypeOf(event.event.action).toEqualTypeOf<'create' | 'update' | 'delete'>()
          expectTypeOf(event.event.previous).toEqualTypeOf<Readonly<Record<string, unknown>> | undefined>()
        } else expectTypeOf(event.at).toEqualTypeOf<string>()
        ctx.log.info('done', ctx.secrets.MAIL_KEY)
      },
    })
  })

  it('auth hooks: before-* may refuse, after-* return anything', () => {
    defineFunction({
      on: { auth: 'before-sign-up' },
      handler(event) {
        expectTypeOf(event).toEqualTypeOf<AuthFunctionEvent<'before-sign-up'>>()
        expectTypeOf(event.user.email).toEqualTypeOf<string>()
        if (!event.user.email.endsWith('@example.com'))
          return { allow: false, message: 'Sign-ups are closed' } as const
        return undefined
      },
    })
    defineFunction({
      on: { auth: 'before-sign-in' },
      // @ts-expect-error: a before-* hook answers with a decision, not a string
      handler: () => 'no',
    })
    defineFunction({
      on: { auth: 'after-sign-up' },
      async handler(event) {
        expectTypeOf(event.hook).toEqualTypeOf<'after-sign-up'>()
      },
    })
  })

  it('storage events', () => {
    defineFunction({
      on: { storage: { bucket: 'avatars', events: ['object.created'] } },
      handler(event) {
        expectTypeOf(event).toEqualTypeOf<StorageFunctionEvent>()
        expectTypeOf(event.event.size).toEqualTypeOf<number>()
      },
    })
  })

  it('refuses unknown triggers and options', () => {
    // @ts-expect-error: no such trigger
    defineFunction({ on: { queue: 'x' }, handler: () => {} })
    // @ts-expect-error: actions are create, update, delete
    defineFunction({ on: { record: { collection: 'posts', actions: ['insert'] } }, handler: () => {} })
    // @ts-expect-error: retries is a number
    defineFunction({ on: { cron: '* * * * *' }, retries: 'three', handler: () => {} })
  })
})
