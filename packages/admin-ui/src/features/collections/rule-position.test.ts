import { describe, expect, it } from 'vitest'
import { ruleFieldHints, rulePosition } from './rule-position.ts'

describe('rule error positions', () => {
  it('puts the caret under the offset on a one-line rule', () => {
    expect(rulePosition("title = 'a' &&", 12)).toEqual({
      line: 1,
      column: 13,
      lineText: "title = 'a' &&",
      caret: '            ^',
    })
  })

  it('finds the line of a multi-line rule and keeps tabs for alignment', () => {
    const text = "a = 1 &&\n\tb ~ 'x' &&\nc"
    const p = rulePosition(text, text.indexOf('b'))
    expect(p).toEqual({ line: 2, column: 2, lineText: "\tb ~ 'x' &&", caret: '\t^' })
  })

  it('clamps offsets outside the text (the end of the text is a valid place)', () => {
    expect(rulePosition('abc', 99)).toMatchObject({ column: 4, caret: '   ^' })
    expect(rulePosition('abc', -5)).toMatchObject({ column: 1, caret: '^' })
    expect(rulePosition('', Number.NaN)).toMatchObject({ line: 1, column: 1 })
  })

  it('for every offset, the caret sits under that character', () => {
    const text = "x = 1 &&\n  author.name ~ 'é' ||\nviews > 2"
    for (let i = 0; i <= text.length; i++) {
      const p = rulePosition(text, i)
      const lineStart =
        text
          .split('\n')
          .slice(0, p.line - 1)
          .join('\n').length + (p.line > 1 ? 1 : 0)
      expect(lineStart + p.column - 1).toBe(i)
      expect(p.caret.length).toBe(p.column)
    }
  })
})

describe('field hints', () => {
  it('offers own fields, system fields and one hop through relations', () => {
    const hints = ruleFieldHints(
      [
        { name: 'title', type: 'text' },
        { name: 'author', type: 'relation', options: { collection: 'authors' } },
      ],
      (n) => (n === 'authors' ? [{ name: 'name' }] : undefined),
    )
    expect(hints).toEqual(
      expect.arrayContaining(['id', 'title', 'author', 'author.name', '@request.auth.id']),
    )
  })
})
