import { BastideError } from '@bastide/sdk'
import { describe, expect, it } from 'vitest'
import { errorPosition, positionInText } from './error-position.ts'

const SOURCE = ['import x', '', 'export default {', '  handler() { return 1 +* }', '}', ''].join('\n')
const invalid = (message: string, details?: Record<string, unknown>) =>
  new BastideError({ code: 'FUNCTION_INVALID', status: 400, message, details })

describe('errorPosition', () => {
  it('reads the sandbox parser’s message: a code frame, then the module’s blob URL with line and column', () => {
    const message =
      'The function does not load: TypeError: SyntaxError: Expression expected\n  |\n4 |   handler() { return 1 +* }\n  |                           ~\n    at blob:null/0ddaf9e5-d1d7-4d93-bdbe-1e580d0fa317:4:27'
    expect(errorPosition(invalid(message), SOURCE)).toEqual({ line: 4, column: 27 })
  })

  it('reads the module’s own stack frames, as the runner names them', () => {
    const message =
      "The function does not load: TypeError: Cannot read properties of null (reading 'x')\n    at function:5:6"
    expect(errorPosition(invalid(message), SOURCE)).toEqual({ line: 5, column: 6 })
  })

  it('prefers the server’s details when it sends a line', () => {
    expect(errorPosition(invalid('at function:5:6', { line: 3, column: 2 }), SOURCE)).toEqual({
      line: 3,
      column: 2,
    })
    expect(errorPosition(invalid('no place', { line: 2 }), SOURCE)).toEqual({ line: 2, column: 1 })
  })

  it('knows the other usual spellings, and takes the first place a message names', () => {
    expect(positionInText('Unexpected token (3:14)', 6)).toEqual({ line: 3, column: 14 })
    expect(positionInText('error on line 2, column 7', 6)).toEqual({ line: 2, column: 7 })
    expect(positionInText('Line 4', 6)).toEqual({ line: 4, column: 1 })
    expect(positionInText('<stdin>:2:5: ERROR: Expected ";" but found "x"', 6)).toEqual({
      line: 2,
      column: 5,
    })
    expect(positionInText('at function:4:2\n at function:1:1', 6)).toEqual({ line: 4, column: 2 })
  })

  it('answers null when there is no place, or it is outside the source (a host frame)', () => {
    expect(
      errorPosition(invalid('The module must `export default defineFunction({ on, handler })`.'), SOURCE),
    ).toBeNull()
    expect(errorPosition(invalid('at function:99:1'), SOURCE)).toBeNull()
    expect(errorPosition(invalid('The function imports "lodash": bundle it'), SOURCE)).toBeNull()
    // Times and versions are not places.
    expect(positionInText('at 12:30:15 the deploy of 1.2.3', 6)).toBeNull()
    expect(errorPosition(new Error('network down'), SOURCE)).toBeNull()
    expect(errorPosition(null, SOURCE)).toBeNull()
  })
})
