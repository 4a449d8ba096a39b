import { describe, expect, it } from 'vitest'
import { loggedPath } from './observe-request.ts'

describe('loggedPath', () => {
  it('keeps ordinary paths as they are, object keys included', () => {
    expect(loggedPath('/api/collections/:collection/records/:id', '/api/collections/posts/records/abc')).toBe(
      '/api/collections/posts/records/abc',
    )
    expect(
      loggedPath('/api/storage/buckets/:bucket/objects/:key{.+}', '/api/storage/buckets/b/objects/a/b.txt'),
    ).toBe('/api/storage/buckets/b/objects/a/b.txt')
  })

  it('redacts route parameters named like credentials', () => {
    expect(loggedPath('/api/invites/:token/accept', '/api/invites/s3cr3t/accept')).toBe(
      '/api/invites/:redacted/accept',
    )
    expect(loggedPath('/api/x/:id/:code', '/api/x/1/123456')).toBe('/api/x/1/:redacted')
  })

  it('redacts the token segment of auth links under a wildcard route', () => {
    expect(loggedPath('/api/auth/*', '/api/auth/reset-password/abc.def')).toBe(
      '/api/auth/reset-password/:redacted',
    )
    expect(loggedPath('/api/auth/*', '/api/auth/Verify-Email/tok/more')).toBe(
      '/api/auth/Verify-Email/:redacted/more',
    )
    expect(loggedPath('/api/auth/*', '/api/auth/sign-in/email')).toBe('/api/auth/sign-in/email')
  })

  it('bounds the length', () => {
    expect(loggedPath('/api/*', `/api/${'a'.repeat(2000)}`)).toHaveLength(512)
  })
})
