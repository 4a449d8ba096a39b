import { describe, expect, it } from 'vitest'
import type { Principal, Scope } from '../auth/principal.ts'
import type { Collection, Field } from '../collections/types.ts'
import { authorize, type Decision, gate, predicateOf } from './authorize.ts'

const field = (name: string): Field => ({
  id: `f_${name}`,
  name,
  type: 'text',
  required: false,
  unique: false,
  hidden: false,
  options: {},
})
const notes: Collection = {
  id: '00000000-0000-7000-8000-000000000001',
  name: 'notes',
  fields: [field('owner'), field('tag')],
  indexes: [],
  rules: { list: null, view: null, create: null, update: null, delete: null },
  created: '',
  updated: '',
}
const key = (...scopes: Scope[]): Principal => ({ kind: 'key', id: 'k', name: 'k', scopes: new Set(scopes) })
const P = {
  anon: { kind: 'anonymous' },
  user: { kind: 'user', id: 'u1', record: { id: 'u1' } },
  admin: { kind: 'admin' },
  reader: key('records:read'),
  storage: key('storage:read'),
} as const satisfies Record<string, Principal>

const decide = (p: Principal, rule: string | null | undefined): Decision['kind'] =>
  authorize(p, { rule, scope: 'records:read', schema: notes, lookup: () => undefined }).kind

/** The decision, as data: principal × rule → kind ('refused': a key outside its scopes, 403). */
const ROWS: readonly [keyof typeof P, string | null | undefined, Decision['kind'] | 'refused'][] = [
  ['admin', null, 'bypass'],
  ['admin', "tag = 'x'", 'bypass'],
  ['reader', null, 'bypass'],
  ['reader', undefined, 'bypass'],
  ['storage', '', 'refused'],
  ['storage', null, 'refused'],
  ['anon', null, 'locked'],
  ['user', undefined, 'locked'],
  ['anon', '', 'public'],
  ['anon', '  ', 'public'],
  ['user', "@request.auth.id != ''", 'public'],
  ['anon', "@request.auth.id != ''", 'denied'],
  ['anon', 'owner = @request.auth.id', 'expression'],
  ['user', 'owner = @request.auth.id', 'expression'],
  ['anon', "tag = 'x'", 'expression'],
]

describe('authorize', () => {
  it.each(ROWS)('%s with rule %j → %s', (as, rule, expected) => {
    if (expected === 'refused') {
      expect(() => decide(P[as], rule)).toThrow(/lacks the records:read scope/)
      expect(() => gate(P[as], rule, 'records:read')).toThrow(/lacks the records:read scope/)
      return
    }
    expect(decide(P[as], rule)).toBe(expected)
    // gate answers the same without binding, except that any non-empty rule is an expression to it.
    const g = gate(P[as], rule, 'records:read')
    expect(g).toBe(expected === 'denied' || (expected === 'public' && rule?.trim()) ? 'expression' : expected)
  })

  it('compiles a rule to SQL over the alias asked for, and none for bypass, public, locked or denied', () => {
    const d = authorize(P.user, {
      rule: 'owner = @request.auth.id',
      scope: 'records:read',
      schema: notes,
      lookup: () => undefined,
      alias: 'o',
    })
    expect(d.kind).toBe('expression')
    expect(JSON.stringify(predicateOf(d)!.toOperationNode())).toContain('"o"')
    expect(predicateOf({ kind: 'bypass' })).toBeUndefined()
    expect(predicateOf({ kind: 'public' })).toBeUndefined()
    expect(predicateOf({ kind: 'locked' })).toBe(predicateOf({ kind: 'denied' }))
  })

  it('keeps the decision of a rule that reads neither the request nor another collection', () => {
    const first = authorize(P.anon, {
      rule: "tag = 'y'",
      scope: 'records:read',
      schema: notes,
      lookup: () => undefined,
    })
    const again = authorize(P.user, {
      rule: "tag = 'y'",
      scope: 'records:read',
      schema: notes,
      lookup: () => undefined,
    })
    expect(again).toBe(first)
    const mine = (p: Principal) =>
      authorize(p, {
        rule: 'owner = @request.auth.id',
        scope: 'records:read',
        schema: notes,
        lookup: () => undefined,
      })
    expect(mine(P.user)).not.toBe(mine(P.user))
  })
})
