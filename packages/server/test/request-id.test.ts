/** Generated request ids: UUID-shaped, unique, one random prefix per process (request-id.ts nextRequestId). */
import { describe, expect, it } from 'vitest'
import { nextRequestId } from '../src/http/middleware/request-id.ts'

describe('nextRequestId', () => {
  it('gives unique UUID-shaped ids that share a per-process random prefix', () => {
    const ids = Array.from({ length: 10_000 }, () => nextRequestId())
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    expect(new Set(ids).size).toBe(ids.length)
    expect(new Set(ids.map((id) => id.slice(0, 24))).size).toBe(1)
    // A counter below the prefix: consecutive ids count up by one.
    const tail = (id: string) => Number.parseInt(id.slice(24), 16)
    for (let i = 1; i < ids.length; i++) expect(tail(ids[i]!)).toBe(tail(ids[i - 1]!) + 1)
  })
})
