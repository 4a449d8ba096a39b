import { COMPARE_OPS, type CompareOp, type Expr, type Operand } from './ast.ts'
import { FilterError } from './errors.ts'

export const MAX_FILTER_LENGTH = 4096
const MAX_DEPTH = 32
const MAX_COMPARISONS = 64

type Tok =
  | { t: 'op'; v: CompareOp; any: boolean; s: number; e: number }
  | { t: 'and' | 'or' | 'not' | 'lp' | 'rp' | 'eof'; s: number; e: number }
  | { t: 'str'; v: string; s: number; e: number }
  | { t: 'num'; v: number; s: number; e: number }
  | { t: 'ident'; v: string[]; s: number; e: number }
  | { t: 'macro'; v: string[]; alias?: string; s: number; e: number }

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?/y

function fail(message: string, position: number, src: string): never {
  throw new FilterError(message, position, src.slice(position, position + 20))
}

function lex(src: string): Tok[] {
  const toks: Tok[] = []
  let i = 0
  while (i < src.length) {
    const c = src[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++
      continue
    }
    const s = i
    const two = src.slice(i, i + 2)
    if (two === '&&') toks.push({ t: 'and', s, e: (i += 2) })
    else if (two === '||') toks.push({ t: 'or', s, e: (i += 2) })
    else if (c === '(') toks.push({ t: 'lp', s, e: ++i })
    else if (c === ')') toks.push({ t: 'rp', s, e: ++i })
    else if (c === '?' || c === '=' || c === '!' || c === '<' || c === '>' || c === '~') {
      const any = c === '?'
      if (any) i++
      const rest = src.slice(i, i + 2)
      const op =
        (['!=', '>=', '<=', '!~'] as const).find((o) => rest === o) ??
        (COMPARE_OPS as readonly string[]).find((o) => o === src[i])
      if (op === undefined || (op === '!' && !any)) {
        if (!any && c === '!') {
          toks.push({ t: 'not', s, e: ++i })
          continue
        }
        fail('Expected an operator.', s, src)
      }
      i += op.length
      toks.push({ t: 'op', v: op as CompareOp, any, s, e: i })
    } else if (c === "'" || c === '"') {
      let v = ''
      i++
      for (;;) {
        if (i >= src.length) fail('Unterminated string.', s, src)
        const ch = src[i]!
        if (ch === '\\') {
          const nx = src[i + 1]
          if (nx === undefined) fail('Unterminated string.', s, src)
          v += nx
          i += 2
        } else if (ch === '\u0000') {
          fail('Strings cannot contain NUL characters.', i, src)
        } else if (ch === c) {
          i++
          break
        } else {
          v += ch
          i++
        }
      }
      toks.push({ t: 'str', v, s, e: i })
    } else if (c === '@') {
      i++
      const path = readPath(src, i, s)
      i = path.end
      let alias: string | undefined
      if (path.parts[0] === 'collection' && path.parts.length >= 2 && src[i] === ':') {
        // @collection.name:alias.field — the alias follows the collection name.
        if (path.parts.length !== 2) fail('An alias follows the collection name.', i, src)
        IDENT.lastIndex = i + 1
        const m = IDENT.exec(src)
        if (!m) fail('Expected an alias after ":".', i + 1, src)
        alias = m[0]
        i = IDENT.lastIndex
        if (src[i] !== '.') fail('Expected "." and a field after the alias.', i, src)
        const more = readPath(src, i + 1, s)
        path.parts.push(...more.parts)
        i = more.end
      }
      toks.push(
        alias === undefined
          ? { t: 'macro', v: path.parts, s, e: i }
          : { t: 'macro', v: path.parts, alias, s, e: i },
      )
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i
      const m = NUMBER.exec(src)
      if (!m) fail('Invalid number.', s, src)
      i = NUMBER.lastIndex
      if (/[A-Za-z0-9_.]/.test(src[i] ?? '')) fail('Invalid number.', s, src)
      const v = Number(m[0])
      if (!Number.isFinite(v)) fail('Number out of range.', s, src)
      toks.push({ t: 'num', v, s, e: i })
    } else if (/[A-Za-z_]/.test(c)) {
      const path = readPath(src, i, s)
      i = path.end
      toks.push({ t: 'ident', v: path.parts, s, e: i })
    } else {
      fail(`Unexpected character '${c}'.`, s, src)
    }
  }
  toks.push({ t: 'eof', s: src.length, e: src.length })
  return toks
}

function readPath(src: string, from: number, tokStart: number): { parts: string[]; end: number } {
  const parts: string[] = []
  let i = from
  for (;;) {
    IDENT.lastIndex = i
    const m = IDENT.exec(src)
    if (!m) fail('Expected a name.', i, src)
    parts.push(m[0])
    i = IDENT.lastIndex
    if (src[i] === '.' && /[A-Za-z_]/.test(src[i + 1] ?? '')) i++
    else break
  }
  if (parts.length > 8) fail('Path too long.', tokStart, src)
  return { parts, end: i }
}

/**
 * Parses the filter and rule language into an AST whose nodes carry source spans. Errors are FilterError
 * (INVALID_FILTER) with `position`, a 0-based offset into the text.
 */
export function parseFilter(src: string): Expr {
  if (src.length > MAX_FILTER_LENGTH) {
    throw new FilterError(`A filter has at most ${MAX_FILTER_LENGTH} characters.`, MAX_FILTER_LENGTH)
  }
  const toks = lex(src)
  let p = 0
  let comparisons = 0
  const peek = () => toks[p]!
  const next = () => toks[p++]!

  const parseOr = (depth: number): Expr => {
    let left = parseAnd(depth)
    while (peek().t === 'or') {
      next()
      const right = parseAnd(depth)
      left = { type: 'or', left, right, start: left.start, end: right.end }
    }
    return left
  }
  const parseAnd = (depth: number): Expr => {
    let left = parseUnary(depth)
    while (peek().t === 'and') {
      next()
      const right = parseUnary(depth)
      left = { type: 'and', left, right, start: left.start, end: right.end }
    }
    return left
  }
  const parseUnary = (depth: number): Expr => {
    if (depth > MAX_DEPTH) fail('The filter is nested too deeply.', peek().s, src)
    const tok = peek()
    if (tok.t === 'not') {
      next()
      const expr = parseUnary(depth + 1)
      return { type: 'not', expr, start: tok.s, end: expr.end }
    }
    if (tok.t === 'lp') {
      next()
      const expr = parseOr(depth + 1)
      const close = next()
      if (close.t !== 'rp') fail('Expected ")".', close.s, src)
      return { ...expr, start: tok.s, end: close.e }
    }
    const left = parseOperand()
    const op = next()
    if (op.t !== 'op')
      fail('Expected a comparison operator (=, !=, >, >=, <, <=, ~, !~, ?=, ...).', op.s, src)
    const right = parseOperand()
    if (++comparisons > MAX_COMPARISONS)
      fail(`A filter has at most ${MAX_COMPARISONS} comparisons.`, op.s, src)
    return { type: 'compare', op: op.v, any: op.any, left, right, start: left.start, end: right.end }
  }
  const parseOperand = (): Operand => {
    const tok = next()
    switch (tok.t) {
      case 'str':
      case 'num':
        return { type: 'literal', value: tok.v, start: tok.s, end: tok.e }
      case 'ident': {
        if (tok.v.length === 1) {
          const w = tok.v[0]
          if (w === 'true' || w === 'false')
            return { type: 'literal', value: w === 'true', start: tok.s, end: tok.e }
          if (w === 'null') return { type: 'literal', value: null, start: tok.s, end: tok.e }
        }
        return { type: 'field', path: tok.v, start: tok.s, end: tok.e }
      }
      case 'macro': {
        if (tok.v[0] === 'collection') {
          const [, collection, ...path] = tok.v
          if (!collection || path.length === 0) fail('Use @collection.<name>.<field>.', tok.s, src)
          return {
            type: 'collection',
            collection,
            alias: tok.alias ?? collection,
            path,
            start: tok.s,
            end: tok.e,
          }
        }
        return { type: 'macro', path: tok.v, start: tok.s, end: tok.e }
      }
      default:
        fail(
          tok.t === 'eof' ? 'Unexpected end of filter.' : 'Expected a field, a value or a macro.',
          tok.s,
          src,
        )
    }
  }

  if (peek().t === 'eof') fail('The filter is empty.', 0, src)
  const expr = parseOr(0)
  const end = peek()
  if (end.t !== 'eof') fail('Unexpected input after the expression.', end.s, src)
  return expr
}
