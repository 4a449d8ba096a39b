import { describe, expect, it } from 'vitest'
import { FUNCTION_NAME, functionTemplate, nameProblem, TEMPLATES } from './template.ts'

describe('function names and templates', () => {
  it('accepts the names the server accepts, and says why others are refused', () => {
    for (const ok of ['a', 'hello', 'send-welcome-mail', `a${'b'.repeat(62)}`])
      expect(nameProblem(ok)).toBeNull()
    expect(nameProblem('')).toBe('A name is needed.')
    expect(nameProblem('1abc')).toBe('Starts with a lowercase letter.')
    expect(nameProblem('-abc')).toBe('Starts with a lowercase letter.')
    expect(nameProblem('Hello')).toBe('Starts with a lowercase letter.')
    expect(nameProblem('hello_world')).toBe('Lowercase letters, digits and dashes only.')
    expect(nameProblem(`a${'b'.repeat(63)}`)).toBe('At most 63 characters.')
    expect(FUNCTION_NAME.source).toBe('^[a-z][a-z0-9-]{0,62}$')
  })

  it('gives every template a module with a default defineFunction export', () => {
    for (const t of TEMPLATES) {
      const src = functionTemplate(t.id, 'hello')
      expect(src).toContain("import { defineFunction } from '@bastide/sdk/functions'")
      expect(src).toContain('export default defineFunction({')
    }
    expect(functionTemplate('http', 'greet')).toContain('/api/functions/greet')
  })
})
