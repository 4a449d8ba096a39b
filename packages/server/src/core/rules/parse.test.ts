/**
 * Properties of the filter parser: print a random AST, parse it back, get the same structure; spans
 * point at the source; numbers round-trip exactly; `&&` binds tighter than `||`; errors are
 * INVALID_FILTER with a position inside the text.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AppError } from '../../errors/index.ts'
import { COMPARE_OPS, type CompareOp, type Expr, type Literal, type Operand } from './ast.ts'
import { MAX_FILTER_LENGTH, parseFilter } from './parse.ts'

// ---------------------------------------------------------------------------------------------------
// ASTs without spans, as generated
// ---------------------------------------------------------------------------------------------------

type POperand =
  | { type: 'field'; path: string[] }
  | { type: 'literal'; value: Literal }
  | { type: 'macro'; path: string[] }
  | { type: 'collection'; collection: string; alias: string; path: string[] }
type PExpr =
  | { type: 'and' | 'or'; left: PExpr; right: PExpr }
  | { type: 'not'; expr: PExpr }
  | { type: 'compare'; op: CompareOp; any: boolean; left: POperand; right: POperand }

/** Removes spans, recursively, so that parsed trees compare with generated ones. */
function strip(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strip)
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) if (k !== 'start' && k !== 'end') out[k] = strip(v)
    return out
  }
  return node
}

const KEYWORDS = new Set(['true', 'false', 'null'])
const identArb = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/)
/** A field path: a lone part may not be a keyword (that would be a literal); later parts may. */
const pathArb = fc
  .array(identArb, { minLength: 1, maxLength: 4 })
  .filter((p) => !(p.length === 1 && KEYWORDS.has(p[0]!)))

/** A double written in plain decimal notation, exactly (every finite double has a finite expansion). */
function exactDecimal(n: number): string {
  if (Object.is(n, -0)) return '-0'
  const neg = n < 0
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, Math.abs(n))
  const bits = view.getBigUint64(0)
  const biased = Number((bits >> 52n) & 0x7ffn)
  let mant = bits & ((1n << 52n) - 1n)
  let e: number
  if (biased === 0) e = -1074
  else {
    mant |= 1n << 52n
    e = biased - 1075
  }
  let s: string
  if (e >= 0) s = (mant << BigInt(e)).toString()
  else {
    const k = -e
    const digits = (mant * 5n ** BigInt(k)).toString().padStart(k + 1, '0')
    const frac = digits.slice(-k).replace(/0+$/, '')
    s = digits.slice(0, -k) + (frac ? `.${frac}` : '')
  }
  return (neg ? '-' : '') + s
}

const numberArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(
    0,
    -0,
    0.1,
    0.30000000000000004,
    2 ** 53,
    2 ** 53 + 2,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    -1e-7,
  ),
)

/** Numbers whose shortest form has no exponent, so that filters stay short. */
const shortNumberArb = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !/e/i.test(String(n))),
  fc.constantFrom(-0, 0.1, 0.30000000000000004, 2 ** 53 + 2),
)

const literalArb: fc.Arbitrary<Literal> = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ unit: fc.constantFrom("'", '"', '\\', 'a', ' ', '&', '(', ')', '=', '@'), maxLength: 8 }),
  // NUL is refused in string literals (PostgreSQL text cannot hold it); tested separately below.
  fc.string({ unit: 'binary', maxLength: 6 }).filter((v) => !v.includes('\u0000')),
  shortNumberArb,
  fc.boolean(),
  fc.constant(null),
)

const operandArb: fc.Arbitrary<POperand> = fc.oneof(
  { weight: 4, arbitrary: pathArb.map((path): POperand => ({ type: 'field', path })) },
  { weight: 4, arbitrary: literalArb.map((value): POperand => ({ type: 'literal', value })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constant<string[]>(['now']),
        fc.constant<string[]>(['request', 'auth', 'id']),
        pathArb.filter((p) => p[0] !== 'collection'),
      )
      .map((path): POperand => ({ type: 'macro', path })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ collection: identArb, alias: fc.option(identArb, { nil: undefined }), path: pathArb })
      .map(
        ({ collection, alias, path }): POperand => ({
          type: 'collection',
          collection,
          alias: alias ?? collection,
          path,
        }),
      ),
  },
)

const compareArb: fc.Arbitrary<PExpr> = fc
  .record({ op: fc.constantFrom(...COMPARE_OPS), any: fc.boolean(), left: operandArb, right: operandArb })
  .map((c): PExpr => ({ type: 'compare', ...c }))

/** Depth stays far below the parser's nesting limit and comparisons below its count limit. */
const exprMemo: fc.Memo<PExpr> = fc.memo<PExpr>((n) => {
  if (n <= 1) return compareArb
  return fc.oneof(
    { weight: 2, arbitrary: compareArb },
    {
      weight: 2,
      arbitrary: fc
        .record({
          type: fc.constantFrom('and' as const, 'or' as const),
          left: exprMemo(n - 1),
          right: exprMemo(n - 1),
        })
        .map((x): PExpr => x),
    },
    { weight: 1, arbitrary: exprMemo(n - 1).map((expr): PExpr => ({ type: 'not', expr })) },
  )
})
const exprArb = exprMemo(5)

// ---------------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------------

interface Style {
  /** Whitespace, picked in turn. */
  readonly ws: readonly string[]
  /** Quote characters for strings, picked in turn. */
  readonly quotes: readonly ("'" | '"')[]
  /** Parenthesize every compound node, not only where precedence needs it. */
  readonly extraParens: boolean
  /** Write `@collection.c:c.x` even when the alias is the collection's name. */
  readonly explicitAlias: boolean
}

const styleArb: fc.Arbitrary<Style> = fc.record({
  ws: fc.array(fc.constantFrom('', ' ', '  ', '\n', '\t', '\r\n'), { minLength: 1, maxLength: 5 }),
  quotes: fc.array(fc.constantFrom("'" as const, '"' as const), { minLength: 1, maxLength: 3 }),
  extraParens: fc.boolean(),
  explicitAlias: fc.boolean(),
})

function printer(style: Style) {
  let w = 0
  let q = 0
  const ws = () => style.ws[w++ % style.ws.length]!
  /** Operand tokens in source order, for the span checks. */
  const tokens: string[] = []

  const literal = (v: Literal): string => {
    if (v === null) return 'null'
    if (typeof v === 'boolean') return String(v)
    if (typeof v === 'number')
      return Object.is(v, -0) ? '-0' : /e/i.test(String(v)) ? exactDecimal(v) : String(v)
    const quote = style.quotes[q++ % style.quotes.length]!
    return quote + v.replace(/\\/g, '\\\\').split(quote).join(`\\${quote}`) + quote
  }
  const operand = (o: POperand): string => {
    let t: string
    switch (o.type) {
      case 'field':
        t = o.path.join('.')
        break
      case 'literal':
        t = literal(o.value)
        break
      case 'macro':
        t = `@${o.path.join('.')}`
        break
      case 'collection':
        t = `@collection.${o.collection}${o.alias !== o.collection || style.explicitAlias ? `:${o.alias}` : ''}.${o.path.join('.')}`
    }
    tokens.push(t)
    return t
  }
  const prec = (e: PExpr) => (e.type === 'or' ? 1 : e.type === 'and' ? 2 : 3)
  const expr = (e: PExpr, min: number): string => {
    let out: string
    switch (e.type) {
      case 'compare': {
        const l = operand(e.left)
        out = `${l}${ws()}${e.any ? '?' : ''}${e.op}${ws()}${operand(e.right)}`
        break
      }
      case 'not':
        out = `!${ws()}${expr(e.expr, 3)}`
        break
      default: {
        const p = prec(e)
        out = `${expr(e.left, p)}${ws()}${e.type === 'and' ? '&&' : '||'}${ws()}${expr(e.right, p + 1)}`
      }
    }
    const paren = prec(e) < min || (style.extraParens && e.type !== 'compare')
    return paren ? `(${ws()}${out}${ws()})` : out
  }
  return { print: (e: PExpr) => `${ws()}${expr(e, 0)}${ws()}`, tokens }
}

function print(e: PExpr, style: Style): { text: string; tokens: string[] } {
  const p = printer(style)
  const text = p.print(e)
  return { text, tokens: p.tokens }
}

type Node = Expr | Operand
function children(n: Node): Node[] {
  switch (n.type) {
    case 'and':
    case 'or':
      return [n.left, n.right]
    case 'not':
      return [n.expr]
    case 'compare':
      return [n.left, n.right]
    default:
      return []
  }
}
function operandsInOrder(e: Node, out: Operand[] = []): Operand[] {
  if (e.type === 'field' || e.type === 'literal' || e.type === 'macro' || e.type === 'collection') out.push(e)
  else for (const c of children(e)) operandsInOrder(c, out)
  return out
}

// ---------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------

describe('parseFilter', () => {
  it('parses a printed AST back to the same structure', () => {
    fc.assert(
      fc.property(exprArb, styleArb, (ast, style) => {
        const { text } = print(ast, style)
        expect(strip(parseFilter(text)), text).toEqual(ast)
      }),
      { numRuns: 2000 },
    )
  })

  it('gives every node a span inside the source, nested in its parent, whose text parses to the same node', () => {
    fc.assert(
      fc.property(exprArb, styleArb, (ast, style) => {
        const { text, tokens } = print(ast, style)
        const root = parseFilter(text)
        const visit = (n: Node, parent?: Node) => {
          expect(Number.isInteger(n.start) && Number.isInteger(n.end), text).toBe(true)
          expect(
            0 <= n.start && n.start < n.end && n.end <= text.length,
            `${n.type} ${n.start}-${n.end} in ${JSON.stringify(text)}`,
          ).toBe(true)
          if (parent)
            expect(parent.start <= n.start && n.end <= parent.end, `${n.type} outside ${parent.type}`).toBe(
              true,
            )
          if (n.type === 'and' || n.type === 'or' || n.type === 'not' || n.type === 'compare') {
            // A node's own text is a filter meaning the same thing.
            expect(strip(parseFilter(text.slice(n.start, n.end))), text.slice(n.start, n.end)).toEqual(
              strip(n),
            )
          }
          for (const c of children(n)) visit(c, n)
        }
        visit(root)
        // Operand spans reproduce their tokens exactly (quotes and escapes included).
        const ops = operandsInOrder(root)
        expect(ops.map((o) => text.slice(o.start, o.end))).toEqual(tokens)
      }),
      { numRuns: 1000 },
    )
  })

  it('refuses NUL inside a string literal with INVALID_FILTER at its position', () => {
    try {
      parseFilter("a = 'x\u0000y'")
      expect.unreachable()
    } catch (e) {
      expect((e as AppError).code).toBe('INVALID_FILTER')
      expect((e as AppError).details?.position).toBe(6)
    }
  })

  it('round-trips number literals exactly', () => {
    fc.assert(
      fc.property(numberArb, (n) => {
        const forms = [exactDecimal(n)]
        // The shortest form too, when JavaScript writes it without an exponent.
        if (!/e/i.test(String(n))) forms.push(Object.is(n, -0) ? '-0' : String(n))
        for (const t of forms) {
          const e = parseFilter(`x = ${t}`)
          expect(e.type).toBe('compare')
          const right = (e as Extract<Expr, { type: 'compare' }>).right
          expect(right.type).toBe('literal')
          expect(
            Object.is((right as { value: unknown }).value, n),
            `${t} → ${String((right as { value: unknown }).value)}`,
          ).toBe(true)
          expect([right.start, right.end]).toEqual([4, 4 + t.length])
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses numbers it cannot represent or that are malformed', () => {
    for (const t of [
      '1'.repeat(400),
      `-${'9'.repeat(400)}`,
      '1e5',
      '1.',
      '.5',
      '01',
      '1.2.3',
      '1x',
      '--1',
      '-',
    ]) {
      const src = `x = ${t}`
      let err: unknown
      try {
        parseFilter(src)
      } catch (e) {
        err = e
      }
      expect(err, src).toBeInstanceOf(AppError)
      expect((err as AppError).code).toBe('INVALID_FILTER')
    }
  })

  it('reports a number run into a letter at the number, whatever was lexed before', () => {
    // The check after a number uses the sticky IDENT regex, whose lastIndex is left over from the last
    // identifier lexed (in this call or an earlier one), so the outcome depends on what came before.
    parseFilter('abcdefgh = 1')
    for (const [src, at] of [
      ['1a = x', 0],
      ['x = 1a', 4],
      ['abcdef = 1 && y = 2z', 18],
      ['x = 1_', 4],
    ] as const) {
      let err: unknown
      try {
        parseFilter(src)
      } catch (e) {
        err = e
      }
      expect(err, src).toBeInstanceOf(AppError)
      expect(
        { message: (err as AppError).message, position: (err as AppError).details?.position },
        src,
      ).toEqual({
        message: 'Invalid number.',
        position: at,
      })
    }
  })

  it('binds && tighter than ||, both left-associative, ! tightest', () => {
    const cmp = (i: number): PExpr => ({
      type: 'compare',
      op: '=',
      any: false,
      left: { type: 'field', path: [`f${i}`] },
      right: { type: 'literal', value: i },
    })
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('&&', '||'), fc.boolean()), { minLength: 0, maxLength: 12 }),
        fc.boolean(),
        (joins, firstNot) => {
          // c0 j1 c1 j2 c2 ..., each comparison possibly negated, no parentheses.
          const leaf = (i: number, neg: boolean): PExpr => (neg ? { type: 'not', expr: cmp(i) } : cmp(i))
          let text = `${firstNot ? '!' : ''}f0 = 0`
          joins.forEach(([j, neg], k) => {
            text += ` ${j} ${neg ? '!' : ''}f${k + 1} = ${k + 1}`
          })
          // Reference: split on ||, each group an &&-chain folded to the left, groups folded to the left.
          const groups: PExpr[][] = [[leaf(0, firstNot)]]
          joins.forEach(([j, neg], k) => {
            if (j === '||') groups.push([])
            groups[groups.length - 1]!.push(leaf(k + 1, neg))
          })
          const fold = (list: PExpr[], type: 'and' | 'or') =>
            list.reduce((left, right): PExpr => ({ type, left, right }))
          const want = fold(
            groups.map((g) => fold(g, 'and')),
            'or',
          )
          expect(strip(parseFilter(text)), text).toEqual(want)
        },
      ),
      { numRuns: 500 },
    )
    expect(strip(parseFilter('a = 1 || b = 2 && c = 3'))).toMatchObject({
      type: 'or',
      right: { type: 'and' },
    })
    expect(strip(parseFilter('(a = 1 || b = 2) && c = 3'))).toMatchObject({
      type: 'and',
      left: { type: 'or' },
    })
    expect(strip(parseFilter('!a = 1 && b = 2'))).toMatchObject({ type: 'and', left: { type: 'not' } })
    expect(strip(parseFilter('!(a = 1 && b = 2)'))).toMatchObject({ type: 'not', expr: { type: 'and' } })
  })

  it('reports the position of the offending character', () => {
    fc.assert(
      fc.property(exprArb, styleArb, fc.constantFrom('#', '$', '`', '{', ';', ','), (ast, style, bad) => {
        const { text } = print(ast, style)
        // Lexing comes first, so a stray character after a complete filter is the first error.
        const src = `${text} ${bad}`
        try {
          parseFilter(src)
          expect.unreachable(src)
        } catch (e) {
          expect(e).toBeInstanceOf(AppError)
          expect((e as AppError).code).toBe('INVALID_FILTER')
          expect((e as AppError).details?.position, src).toBe(text.length + 1)
        }
      }),
      { numRuns: 500 },
    )
  })

  it('throws only INVALID_FILTER with a position within the text, on any input', () => {
    const chars = fc.constantFrom(...'()!?=<>~&|@.:\'"\\-_ 0123456789abcXYZ\n\t'.split(''))
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: chars, maxLength: 50 }),
          fc.string({ unit: 'binary', maxLength: 50 }),
          fc.string(),
        ),
        (src) => {
          try {
            parseFilter(src)
          } catch (e) {
            const ctx = `${JSON.stringify(src)}: ${String(e)}`
            expect(e instanceof AppError, ctx).toBe(true)
            expect((e as AppError).code, ctx).toBe('INVALID_FILTER')
            const pos = (e as AppError).details?.position as number
            expect(Number.isInteger(pos) && pos >= 0 && pos <= src.length, ctx).toBe(true)
          }
        },
      ),
      { numRuns: 5000 },
    )
  })

  it('survives deep nesting and long inputs without a stack overflow', () => {
    for (const src of [
      '('.repeat(10_000),
      '!'.repeat(10_000),
      '('.repeat(MAX_FILTER_LENGTH),
      '!'.repeat(MAX_FILTER_LENGTH),
      `${'('.repeat(2000)}a = 1${')'.repeat(2000)}`,
      `${'!('.repeat(1000)}a = 1${')'.repeat(1000)}`,
      Array.from({ length: 300 }, () => 'a = 1').join(' || '),
      Array.from({ length: 300 }, () => 'a = 1').join(' && '),
    ]) {
      let err: unknown
      try {
        parseFilter(src)
      } catch (e) {
        err = e
      }
      expect(err, src.slice(0, 30)).toBeInstanceOf(AppError)
      expect((err as AppError).code).toBe('INVALID_FILTER')
    }
    expect(parseFilter(`${'('.repeat(32)}a = 1${')'.repeat(32)}`).type).toBe('compare')
    expect(parseFilter(Array.from({ length: 64 }, () => 'a = 1').join(' || ')).type).toBe('or')
  })
})
