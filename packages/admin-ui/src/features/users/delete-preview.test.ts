import { describe, expect, it } from 'vitest'
import { describePreview, needsTypedConfirmation, type UserDeletePreview } from './delete-preview.ts'

const base: UserDeletePreview = {
  user: { id: 'u1', email: 'ada@example.com' },
  relations: [],
  cascade: {},
  changed: {},
  blocking: {},
  blocked: false,
  tooDeep: false,
  sessions: 0,
  accounts: 1,
  files: null,
}

describe('describePreview', () => {
  it('lists only the sessions and sign-in methods for a user nothing points at', () => {
    expect(describePreview(base)).toEqual([
      { tone: 'info', text: '0 sessions end.' },
      { tone: 'info', text: '1 sign-in method removed.' },
    ])
    expect(needsTypedConfirmation(base)).toBe(false)
  })

  it('puts what blocks first, then what is deleted, then what changes, then what stays', () => {
    const p: UserDeletePreview = {
      ...base,
      relations: [
        {
          collection: 'posts',
          field: 'author',
          target: 'users',
          onDelete: 'cascade',
          multiple: false,
          records: 2,
          effect: 'delete',
        },
        {
          collection: 'profiles',
          field: 'mentor',
          target: 'users',
          onDelete: 'set_null',
          multiple: false,
          records: 1,
          effect: 'set_null',
        },
        {
          collection: 'posts',
          field: 'likedBy',
          target: 'users',
          onDelete: 'set_null',
          multiple: true,
          records: 3,
          effect: 'unlink',
        },
        {
          collection: 'reports',
          field: 'post',
          target: 'posts',
          onDelete: 'restrict',
          multiple: false,
          records: 1,
          effect: 'block',
        },
      ],
      cascade: { posts: 2, comments: 1 },
      blocking: { reports: 1 },
      blocked: true,
      sessions: 1,
      files: { count: 2, bytes: 2048 },
    }
    expect(describePreview(p).map((l) => l.text)).toEqual([
      '1 record in reports (post, on delete: restrict) still point at posts that would be deleted: remove or change them first.',
      '2 records in posts are deleted with them.',
      '1 record in comments is deleted with them.',
      '1 record in profiles keeps existing with mentor emptied.',
      '3 records in posts lose the link in likedBy.',
      '1 session ends.',
      '1 sign-in method removed.',
      '2 stored files (2.0 KB) stay, without an owner.',
    ])
    expect(needsTypedConfirmation(p)).toBe(true)
  })
})
