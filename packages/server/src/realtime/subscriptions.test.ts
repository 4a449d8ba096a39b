import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Principal } from '../core/auth/principal.ts'
import type { Collection, Field } from '../core/collections/types.ts'
import { evaluate } from '../core/rules/index.ts'
import { compileSubscription, type Matcher, SubscriptionSet } from './subscriptions.ts'

const field = (name: string, type: Field['type'] = 'text'): Field => ({
  id: `f_${name}`,
  name,
  type,
  required: false,
  unique: false,
  hidden: false,
  options: {},
})
const notes: Collection = {
  id: '00000000-0000-7000-8000-000000000001',
  name: 'notes',
  fields: [field('owner'), field('tag'), field('n', 'number')],
  indexes: [],
  rules: { list: null, view: 'owner = @request.auth.id', create: null, update: null, delete: null },
  created: '',
  updated: '',
}
const user = (id: string): Principal => ({ kind: 'user', id, record: { id, email: `${id}@x.test` } })
const lookup = () => undefined
const NO_DATA = { get: () => undefined, all: () => [] }

describe('SubscriptionSet', () => {
  it('offers every subscription a change matches (the index never hides one)', () => {
    const ids = ['u1', 'u2', 'u3', 'u4']
    const filters = [undefined, "tag = 'a'", 'n > 2', "tag != 'b' && n < 5", "owner = 'u2'"]
    fc.assert(
      fc.property(
        fc.array(fc.record({ who: fc.constantFrom(...ids, 'anon'), filter: fc.constantFrom(...filters) }), {
          maxLength: 20,
        }),
        fc.record({
          id: fc.constant('00000000-0000-7000-8000-0000000000aa'),
          owner: fc.constantFrom(...ids, null),
          tag: fc.constantFrom('a', 'b', null),
          n: fc.integer({ min: 0, max: 6 }),
        }),
        (specs, record) => {
          const set = new SubscriptionSet<{ matcher: Matcher; seeHidden: boolean; recordId?: string }>()
          const subs = specs.map((sp) => {
            const p: Principal = sp.who === 'anon' ? { kind: 'anonymous' } : user(sp.who)
            const s = { ...compileSubscription({ collection: 'notes', filter: sp.filter }, notes, p, lookup) }
            set.add(s)
            return s
          })
          const matches = (s: (typeof subs)[number]) =>
            s.matcher.kind === 'all' ||
            (s.matcher.kind === 'memory' && evaluate(s.matcher.expr, record, NO_DATA))
          const expected = subs.filter(matches)
          const offered = new Set(set.candidates(record))
          for (const s of expected) expect(offered.has(s)).toBe(true)
          // And it does narrow: owner-only subscribers of other users are not even visited.
          for (const s of offered) if (!matches(s)) expect(s.matcher.kind).not.toBe('all')
        },
      ),
    )
  })

  it('visits only the owner’s subscriptions among thousands', () => {
    const set = new SubscriptionSet<{ matcher: any }>()
    for (let i = 0; i < 5000; i++)
      set.add(compileSubscription({ collection: 'notes' }, notes, user(`u${i}`), lookup))
    expect(set.size).toBe(5000)
    expect([...set.candidates({ id: 'x', owner: 'u42' })]).toHaveLength(1)
    expect([...set.candidates({ id: 'x', owner: null })]).toHaveLength(0)
  })

  it('follows a subscription to one record by its id, and forgets deleted ones', () => {
    const set = new SubscriptionSet<{ matcher: any; recordId?: string }>()
    const one = { matcher: { kind: 'all' as const }, recordId: 'r1' }
    const all = { matcher: { kind: 'all' as const } }
    set.add(one)
    set.add(all)
    expect([...set.candidates({ id: 'r1' })]).toEqual(expect.arrayContaining([one, all]))
    expect([...set.candidates({ id: 'r2' })]).toEqual([all])
    set.delete(one)
    expect([...set.candidates({ id: 'r1' })]).toEqual([all])
    expect(set.size).toBe(1)
  })
})
