import { describe, expect, it } from 'vitest'
import { caretLines, fieldMessages, parseRuleError } from './rule-error.ts'

describe('rule errors', () => {
  it('splits the server’s message and position', () => {
    expect(parseRuleError("Unknown field 'ownr'. (at 12)")).toEqual({
      message: "Unknown field 'ownr'.",
      position: 12,
    })
    expect(parseRuleError('Rule too long.')).toEqual({ message: 'Rule too long.', position: undefined })
  })

  it('points a caret at the position, on its line', () => {
    expect(caretLines("owner = 'x' &&& size > 1", 12)).toEqual({
      line: "owner = 'x' &&& size > 1",
      caret: '            ^',
      lineNo: 1,
    })
    expect(caretLines('a = 1 &&\nbogus = 2', 9)).toEqual({ line: 'bogus = 2', caret: '^', lineNo: 2 })
    expect(caretLines('a = ', 99)).toEqual({ line: 'a = ', caret: '    ^', lineNo: 1 })
    expect(caretLines('abc', -3).caret).toBe('^')
  })

  it('every position lands on the line that holds it', () => {
    const src = 'key = "a"\n&& size < 10\n\n|| owner = @request.auth.id'
    for (let p = 0; p <= src.length; p++) {
      const { line, caret, lineNo } = caretLines(src, p)
      const lines = src.split('\n')
      expect(lines[lineNo - 1]).toBe(line)
      expect(caret.length - 1).toBeLessThanOrEqual(line.length)
    }
  })
})

describe('field messages', () => {
  it('reads { code, message } and plain messages by path', () => {
    const m = fieldMessages({
      fields: {
        'rules.write': { code: 'invalid_rule', message: "Unknown field 'sise'. (at 28)" },
        name: 'Too short.',
        odd: 3,
      },
    })
    expect([...m]).toEqual([
      ['rules.write', "Unknown field 'sise'. (at 28)"],
      ['name', 'Too short.'],
      ['odd', '3'],
    ])
    expect(fieldMessages(undefined).size).toBe(0)
    expect(fieldMessages({ fields: null }).size).toBe(0)
  })
})
